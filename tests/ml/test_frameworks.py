"""XGBoost, LightGBM, PyTorch and ONNX Runtime end to end, each with a real trained model.

For each: one span per model call (none for its inner calls or for training),
a stationary stream raises nothing, and a unit change (x100) on one feature
is attributed to that feature alone. Baselines come from ``otel-drift
baseline`` with ``--model`` (so the prediction is watched too).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from otel_drift.instrumentation import name_model

from otel_drift._internal.cli.main import main
from tests.ml.frameworks import FRAMEWORKS, Framework, numeric_frame
from tests.ml.support import Drift, drift, need

BATCH = 250
WINDOW_ROWS = 1000


@pytest.fixture(params=sorted(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> Framework:
    spec = FRAMEWORKS[request.param]
    need(spec.module)
    need("pandas")
    if spec.name == "onnxruntime":
        need("skl2onnx")
    return spec


def _model(spec: Framework) -> Any:
    frameworks = importlib.import_module("tests.ml.frameworks")
    if spec.name == "onnxruntime":
        return frameworks.onnx_session()  # known by its ONNX graph name
    model = getattr(frameworks, f"{spec.name}_model")()
    return name_model(model, f"cancer-{spec.name}")


def _model_name(spec: Framework) -> str:
    return "cancer_onnx" if spec.name == "onnxruntime" else f"cancer-{spec.name}"


def _baseline(spec: Framework, folder: Path) -> str:
    frame = numeric_frame()
    if spec.by_index:
        data = folder / "reference.npy"
        np.save(data, frame.to_numpy())
    else:
        data = folder / "reference.csv"
        frame.to_csv(data, index=False)
    out = folder / f"{spec.name}.yaml"
    operation = {"torch": "forward", "onnxruntime": "run"}.get(spec.name, "predict")
    code = main(
        [
            "baseline",
            str(data),
            "-o",
            str(out),
            "--name",
            spec.name,
            "--model-name",
            _model_name(spec),
            "--model",
            f"tests.ml.frameworks:{spec.name}_predictor",
            "--no-progress",
        ]
    )
    assert code == 0
    # The predictor's method is predict(); the span's operation is the library's own.
    return out.read_text().replace("ml.operation: predict", f"ml.operation: {operation}")


@pytest.fixture
def watched(framework: Framework, tmp_path: Path) -> Iterator[Drift]:
    _model(framework)  # train before instrumenting: training makes no span anyway
    pipeline = drift(_baseline(framework, tmp_path))
    module = importlib.import_module(f"otel_drift.instrumentation.{framework.name}")
    instrumentor = getattr(module, framework.instrumentor)()
    instrumentor.instrument(tracer_provider=pipeline.provider, drift_processor=pipeline.processor)
    yield pipeline
    instrumentor.uninstrument()
    pipeline.shutdown()


def _stream(rows: int, seed: int) -> Any:
    frame = numeric_frame()
    picks = np.random.default_rng(seed).integers(0, len(frame), size=rows)
    return frame.iloc[picks].reset_index(drop=True)


def _serve(spec: Framework, frame: Any) -> None:
    for start in range(0, len(frame), BATCH):
        spec.serve(frame.iloc[start : start + BATCH])


def test_one_span_per_model_call(framework: Framework, watched: Drift) -> None:
    _model(framework)
    framework.serve(_stream(10, seed=0))
    (span,) = watched.model_spans()
    attributes = dict(span.attributes or {})
    assert attributes["ml.framework"] == framework.name
    assert attributes["ml.model.name"] == _model_name(framework)
    assert attributes["ml.batch_size"] == 10
    assert attributes["ml.features"] == 30
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == f"otel_drift.instrumentation.{framework.name}"


def test_stationary_stream_raises_nothing(framework: Framework, watched: Drift) -> None:
    _model(framework)
    _serve(framework, _stream(3 * WINDOW_ROWS, seed=1))
    watched.flush()
    assert len(watched.windows) == 3
    assert "prediction" in watched.scored()
    assert {n: s for n, s in watched.worst().items() if s} == {}


def test_unit_change_is_attributed_to_its_feature(framework: Framework, watched: Drift) -> None:
    _model(framework)
    frame = _stream(2 * WINDOW_ROWS, seed=2)
    frame["mean radius"] = frame["mean radius"] * 100
    _serve(framework, frame)
    watched.flush()
    worst = watched.worst()
    changed = "f0" if framework.by_index else "mean_radius"
    assert worst[changed] == 2
    others = {n for n, s in worst.items() if s and n not in (changed, "prediction")}
    assert others == set()
