"""Label feedback: outcomes recorded later, joined by id or by the prediction's span,
scored per window against the baseline's accuracy or error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from otel_drift.instrumentation import last_model_call, name_model

from otel_drift import FeedbackWindow, LabelFeedback
from otel_drift._internal.cli.main import main
from otel_drift._internal.expectations.model import Feedback
from tests.ml.support import drift, need


def test_join_by_id_scores_accuracy_per_window() -> None:
    feedback = LabelFeedback("m", Feedback("accuracy", 0.9, 0.05, 0.1, window=100))
    windows: list[FeedbackWindow] = []
    feedback.add_listener(windows.append)
    ids = [f"req-{i}" for i in range(300)]
    predictions = np.arange(300) % 2
    feedback.record_predictions(ids, predictions)
    truth = predictions.copy()
    truth[100:200][:50] = 1 - truth[100:200][:50]  # second hundred: half wrong
    # Outcomes arrive in another order (within each hundred).
    rng = np.random.default_rng(0)
    order = np.concatenate([start + rng.permutation(100) for start in (0, 100, 200)])
    assert feedback.record_outcomes([ids[i] for i in order], truth[order]) == 300
    assert feedback.record_outcomes(["unknown"], [1]) == 0
    assert feedback.unmatched == 1
    assert [w.outcomes for w in windows] == [100, 100, 100]
    assert sum(w.score for w in windows) == pytest.approx(2.5)
    assert sorted(w.status for w in windows) == [0, 0, 2]
    # A joined id is forgotten: its outcome cannot count twice.
    assert feedback.record_outcomes(ids[:5], truth[:5]) == 0


def test_regression_error_against_baseline_and_bounded_memory() -> None:
    feedback = LabelFeedback("r", Feedback("mae", 10.0, 0.1, 0.25, window=50), capacity=100)
    feedback.record_predictions(range(200), np.full(200, 100.0))  # only the newest 100 kept
    assert feedback.record_outcomes(range(100), np.full(100, 0.0)) == 0
    assert feedback.record_outcomes(range(100, 150), np.full(50, 111.0)) == 50
    (window,) = feedback.history
    assert window.metric == "mae" and window.score == pytest.approx(11.0)
    assert window.degradation == pytest.approx(0.1) and window.status == 1


def test_join_by_span_of_an_instrumented_model(tmp_path: Path) -> None:
    need("sklearn")
    need("pandas")
    from otel_drift.instrumentation.sklearn import SklearnInstrumentor  # noqa: PLC0415

    from tests.ml.models import CANCER_TARGET, cancer_frame, cancer_model  # noqa: PLC0415

    data = tmp_path / "train.csv"
    cancer_frame().to_csv(data, index=False)
    out = tmp_path / "e.yaml"
    args = ["baseline", str(data), "-o", str(out), "--name", "cancer", "--no-progress"]
    args += ["--target", CANCER_TARGET, "--model", "tests.ml.models:cancer_model"]
    assert main(args) == 0
    feedback = LabelFeedback.for_expectation(out, "cancer").track()
    assert feedback.spec.metric == "accuracy" and feedback.spec.baseline > 0.95
    pipeline = drift(out.read_text())
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        model = name_model(cancer_model(), "cancer")
        frame = cancer_frame()
        features, truth = frame.drop(columns=CANCER_TARGET), frame[CANCER_TARGET].to_numpy()
        calls = []
        for _ in range(2):
            model.predict(features)
            calls.append(last_model_call())
        (span, _) = pipeline.model_spans()
        assert calls[0] == (span.context.trace_id, span.context.span_id)
        # Later: the first batch's outcomes are as trained; the second's labels flipped.
        assert feedback.record_outcomes_for_span(calls[0], truth) == len(truth)
        assert feedback.record_outcomes_for_span(calls[1], 1 - truth) == len(truth)
        assert feedback.record_outcomes_for_span((1, 2), truth) == 0
        feedback.flush()
        scores = [w.score for w in feedback.history]
        assert scores[0] == pytest.approx(feedback.spec.baseline, abs=0.02)
        assert min(w.status for w in feedback.history) == 0
        assert max(w.status for w in feedback.history) == 2
    finally:
        feedback.untrack()
        SklearnInstrumentor().uninstrument()
        pipeline.shutdown()


def test_feedback_in_the_file_is_checked() -> None:
    from otel_drift import ExpectationsError, loads_expectations  # noqa: PLC0415

    text = """
version: 1
expectations:
  - name: m
    match: {}
    feedback: {metric: accuracy, baseline: 93, warning: 0.2, critical: 0.1}
    watch:
      p: {source: ml.prediction, constraints: {allowed: [0, 1]}}
"""
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text)
    message = str(caught.value)
    assert "a share from 0 to 1" in message and "make critical at least warning" in message
