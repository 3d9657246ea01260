"""More of scikit-learn's datasets: diabetes (regression, MAE feedback) and digits
(images through a torch convolutional network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from otel_drift.instrumentation import last_model_call, name_model

from otel_drift import LabelFeedback
from otel_drift._internal.cli.main import main
from tests.ml.support import drift, need


def test_diabetes_regression_drift_and_error_feedback(tmp_path: Path) -> None:
    need("sklearn")
    need("pandas")
    from otel_drift.instrumentation.sklearn import SklearnInstrumentor  # noqa: PLC0415

    from tests.ml.models import diabetes_frame, diabetes_model  # noqa: PLC0415

    frame = diabetes_frame()
    data, out = tmp_path / "diabetes.csv", tmp_path / "diabetes.yaml"
    frame.to_csv(data, index=False)
    args = ["baseline", str(data), "-o", str(out), "--name", "diabetes", "--no-progress"]
    assert main([*args, "--target", "target", "--model", "tests.ml.models:diabetes_model"]) == 0
    feedback = LabelFeedback.for_expectation(out, "diabetes").track()
    assert feedback.spec.metric == "mae"
    pipeline = drift(out.read_text())
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        model = name_model(diabetes_model(), "diabetes")
        features, truth = frame.drop(columns="target"), frame["target"].to_numpy()
        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(frame), size=1000)
        model.predict(features.iloc[picks])
        assert feedback.record_outcomes_for_span(last_model_call(), truth[picks]) == 1000
        shifted = features.iloc[picks].copy()
        shifted["bmi"] = shifted["bmi"] * 100  # kg/m² sent as another unit
        model.predict(shifted)
        assert feedback.record_outcomes_for_span(last_model_call(), truth[picks]) == 1000
        pipeline.flush()
        feedback.flush()
        statuses = [{w.watch: w.status for w in window.watches} for window in pipeline.windows]
        assert {n for n, s in statuses[0].items() if s} == set()
        assert statuses[1]["bmi"] == 2 and statuses[1]["prediction"] == 2
        assert {n for n, s in statuses[1].items() if s} == {"bmi", "prediction"}
        assert [w.status for w in feedback.history] == [0, 0, 2, 2]  # windows of 500
    finally:
        feedback.untrack()
        SklearnInstrumentor().uninstrument()
        pipeline.shutdown()


def test_digits_images_through_a_convolutional_network(tmp_path: Path) -> None:
    torch = need("torch")
    need("sklearn")
    from otel_drift.instrumentation.torch import TorchInstrumentor  # noqa: PLC0415
    from sklearn.datasets import load_digits  # noqa: PLC0415

    from tests.ml.models import digits_model  # noqa: PLC0415

    digits = load_digits()
    data, out = tmp_path / "digits.npy", tmp_path / "digits.yaml"
    np.save(data, digits.data / 16.0)  # the model's input: pixels scaled to 0..1
    args = ["baseline", str(data), "-o", str(out), "--name", "digits", "--no-progress"]
    assert main([*args, "--model", "tests.ml.models:digits_predictor"]) == 0
    text = out.read_text().replace("ml.operation: predict", "ml.operation: forward")
    pipeline = drift(text)
    model = name_model(digits_model(), "digits")
    TorchInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        rng = np.random.default_rng(1)

        def batch(images: np.ndarray) -> Any:
            return torch.tensor(images / 16.0, dtype=torch.float32).unsqueeze(1)

        sevens = digits.images[digits.target == 7]
        with torch.no_grad():
            model(batch(digits.images[rng.integers(0, len(digits.images), size=1000)]))
            model(batch(sevens[rng.integers(0, len(sevens), size=1000)]))
        (first, _) = pipeline.model_spans()
        assert dict(first.attributes or {})["ml.features"] == 64  # (N, 1, 8, 8) flattened
        pipeline.flush()
        statuses = [{w.watch: w.status for w in window.watches} for window in pipeline.windows]
        assert {n for n, s in statuses[0].items() if s} == set()
        assert statuses[1]["prediction"] == 2  # only sevens: the prediction mix shifted
    finally:
        TorchInstrumentor().uninstrument()
        pipeline.shutdown()
