"""Library-specific paths: torch training and eval mode, XGBoost DMatrix, LightGBM Booster,
ONNX feeds of named inputs; and instrumentors that skip themselves when their library is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from otel_drift.instrumentation import name_model

from tests.ml.frameworks import labels, numeric_frame
from tests.ml.support import Drift, drift, need

BY_NAME = """
version: 1
expectations:
  - name: m
    match: {attributes: {ml.model.name: m}}
    window: {spans: 100000}
    watch:
      radius: {feature: mean radius, constraints: {max: 20}}
      texture: {feature: mean texture, constraints: {max: 25}}
      texture_missing: {source: ml.missing, feature: mean texture, constraints: {max: 0}}
"""


@pytest.fixture
def pipeline() -> Iterator[Drift]:
    built = drift(BY_NAME)
    yield built
    built.shutdown()


def _events(pipeline: Drift) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for span in pipeline.model_spans():
        for event in span.events:
            attributes = dict(event.attributes or {})
            key = (str(attributes["drift.attribute"]), str(attributes["drift.rule"]))
            count = attributes["drift.violations"]
            found[key] = found.get(key, 0) + (count if isinstance(count, int) else 0)
    return found


def test_torch_training_makes_no_span_eval_mode_does(pipeline: Drift) -> None:
    torch = need("torch")
    from otel_drift.instrumentation.torch import TorchInstrumentor  # noqa: PLC0415

    TorchInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        name_model(model, "tiny", "7")
        x = torch.randn(8, 4)
        model.train()
        model(x).sum().backward()  # training: gradients on, train mode
        assert pipeline.model_spans() == []
        model.eval()
        model(x)  # eval mode, gradients on: inference
        with torch.no_grad():
            model.train()
            model(x)  # no_grad: inference
        spans = pipeline.model_spans()
        assert [s.name for s in spans] == ["forward tiny", "forward tiny"]
        assert dict(spans[0].attributes or {})["ml.model.version"] == "7"
    finally:
        TorchInstrumentor().uninstrument()


def test_xgboost_booster_with_dmatrix_reads_missing_values(pipeline: Drift) -> None:
    xgboost = need("xgboost")
    from otel_drift.instrumentation.xgboost import XGBoostInstrumentor  # noqa: PLC0415

    frame = numeric_frame()
    booster = xgboost.train(
        {"max_depth": 2, "nthread": 1}, xgboost.DMatrix(frame, label=labels()), 5
    )
    name_model(booster, "m")
    XGBoostInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        served = frame.copy()
        served.loc[:9, "mean texture"] = np.nan
        booster.predict(xgboost.DMatrix(served))
        booster.inplace_predict(served)
        spans = pipeline.model_spans()
        assert [s.name for s in spans] == ["predict m", "inplace_predict m"]
        # Unstored DMatrix entries are missing values, not zeros.
        events = _events(pipeline)
        assert events[("texture_missing", "max")] == 20
        assert events[("radius", "max")] == 2 * int((frame["mean radius"] > 20).sum())
    finally:
        XGBoostInstrumentor().uninstrument()


def test_lightgbm_booster_and_classifier(pipeline: Drift) -> None:
    lightgbm = need("lightgbm")
    from otel_drift.instrumentation.lightgbm import LightGBMInstrumentor  # noqa: PLC0415

    frame = numeric_frame()
    LightGBMInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        classifier = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1)
        classifier.fit(frame, labels())
        assert pipeline.model_spans() == []  # fit makes none
        name_model(classifier, "m")
        classifier.predict(frame)  # predict calls predict_proba and the Booster: one span
        classifier.booster_.predict(frame.to_numpy())
        spans = pipeline.model_spans()
        assert [s.name for s in spans] == ["predict m", "predict Booster"]
    finally:
        LightGBMInstrumentor().uninstrument()


def test_onnx_feed_of_named_inputs(pipeline: Drift) -> None:
    onnx = need("onnx")
    onnxruntime = need("onnxruntime")
    from onnx import TensorProto, helper  # noqa: PLC0415
    from otel_drift.instrumentation.onnxruntime import OnnxRuntimeInstrumentor  # noqa: PLC0415

    # A graph adding two named (n, 1) inputs: features named by input.
    graph = helper.make_graph(
        [helper.make_node("Add", ["mean radius", "mean texture"], ["sum"])],
        "m",
        [
            helper.make_tensor_value_info("mean radius", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("mean texture", TensorProto.FLOAT, [None, 1]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    OnnxRuntimeInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        frame = numeric_frame()
        feed = {
            name: frame[[name]].to_numpy(dtype=np.float32)
            for name in ("mean radius", "mean texture")
        }
        (output,) = session.run(None, feed)
        assert output.shape == (len(frame), 1)
        (span,) = pipeline.model_spans()
        assert span.name == "run m"  # the graph's name
        assert _events(pipeline) == {
            ("radius", "max"): int((frame["mean radius"] > 20).sum()),
            ("texture", "max"): int((frame["mean texture"] > 25).sum()),
        }
    finally:
        OnnxRuntimeInstrumentor().uninstrument()


def test_an_instrumentor_whose_library_is_absent_raises_module_not_found() -> None:
    need("sklearn")
    from otel_drift.instrumentation.sklearn import SklearnInstrumentor  # noqa: PLC0415

    class Absent(SklearnInstrumentor):  # type: ignore[misc]
        # BaseInstrumentor keeps one instance per class: not the parent's.
        _instance = None
        _is_instrumented_by_opentelemetry = False
        module = "no_such_library_otel_drift"

    # opentelemetry-instrument skips just this instrumentor on ModuleNotFoundError.
    with pytest.raises(ModuleNotFoundError):
        Absent().instrument(skip_dep_check=True)
    assert not Absent().is_instrumented_by_opentelemetry


def test_entry_points_and_dependency_check() -> None:
    from importlib.metadata import distribution, entry_points  # noqa: PLC0415

    from opentelemetry.instrumentation.dependencies import (  # noqa: PLC0415
        get_dist_dependency_conflicts,
    )

    names = {ep.name: ep for ep in entry_points(group="opentelemetry_instrumentor")}
    for name in ("sklearn", "torch", "xgboost", "lightgbm", "onnxruntime"):
        loaded: Any = names[f"otel_drift_{name}"].load()
        assert loaded.__name__.endswith("Instrumentor")
    # Several instrumentors in one distribution: any one ML library passes the check.
    assert get_dist_dependency_conflicts(distribution("otel-drift")) is None
