"""Label feedback: true outcomes recorded later, joined with the predictions, scored per window.

    feedback = otel_drift.LabelFeedback.for_expectation("expectations.yaml", "credit")
    feedback.track()                              # remember "credit"'s predictions by span
    prediction = model.predict(X)                 # instrumented: one span
    call = otel_drift.instrumentation.last_model_call()   # (trace_id, span_id), store it
    ...                                           # days later, when the truth is known:
    feedback.record_outcomes_for_span(call, y_true)

or by the caller's own ids: ``record_predictions(ids, y_pred)`` then
``record_outcomes(ids, y_true)``. Every ``window`` joined outcomes give an
accuracy (classifiers) or MAE/RMSE (regression) compared with the one the
expectations file declares (``feedback:``, written by ``otel-drift baseline
--target ... --model ...``); the verdict goes to listeners and to the
``drift.feedback.*`` metrics. Nothing here raises into the application.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from otel_drift._internal import semconv as sc
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import Feedback
from otel_drift._internal.feedback.store import Array, PredictionStore, SpanKey

_logger = logging.getLogger(__name__)

#: Predictions kept waiting for their outcome, per LabelFeedback.
DEFAULT_CAPACITY = 100_000

#: Models whose predictions the ML instrumentations hand to a LabelFeedback, by name.
_TRACKED: dict[str, LabelFeedback] = {}


def tracked(model_name: str) -> LabelFeedback | None:
    return _TRACKED.get(model_name)


@dataclass(frozen=True)
class FeedbackWindow:
    """One window of joined outcomes."""

    expectation: str
    metric: str
    outcomes: int
    score: float
    baseline: float
    #: How much worse than the baseline: accuracy drop, or relative error increase.
    degradation: float
    status: int


class LabelFeedback:
    """Joins true outcomes with earlier predictions and scores the model per window."""

    def __init__(
        self,
        expectation: str,
        spec: Feedback,
        *,
        model_name: str | None = None,
        capacity: int = DEFAULT_CAPACITY,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.expectation = expectation
        self.spec = spec
        self.model_name = model_name or expectation
        self.store = PredictionStore(capacity)
        self.history: list[FeedbackWindow] = []
        self.unmatched = 0
        self.matched = 0
        self._listeners: list[Callable[[FeedbackWindow], None]] = []
        self._lock = threading.Lock()
        self._reset_window()
        self._errors = 0
        meter = metrics.get_meter(sc.OWN_SCOPE, meter_provider=meter_provider)
        meter.create_observable_gauge(
            sc.METRIC_FEEDBACK_SCORE,
            callbacks=[self._observe_score],
            description="Accuracy, MAE or RMSE of the last closed window of label feedback",
        )
        meter.create_observable_gauge(
            sc.METRIC_FEEDBACK_STATUS,
            callbacks=[self._observe_status],
            description="0 ok, 1 warning, 2 critical: the model's quality against its baseline",
        )

    @classmethod
    def for_expectation(
        cls, path: str | os.PathLike[str], expectation: str, **kwargs: Any
    ) -> LabelFeedback:
        """The feedback declared by ``expectation`` in an expectations file."""
        loaded = load_expectations(path)
        for candidate in loaded.expectations:
            if candidate.name == expectation:
                if candidate.feedback is None:
                    raise ValueError(f"expectation {expectation!r} declares no feedback:")
                name = candidate.match.attributes.get(sc.ML_MODEL_NAME)
                kwargs.setdefault("model_name", str(name) if name is not None else None)
                return cls(expectation, candidate.feedback, **kwargs)
        raise KeyError(expectation)

    # -- wiring ------------------------------------------------------------------

    def track(self) -> LabelFeedback:
        """Let the ML instrumentations record this model's predictions by span."""
        _TRACKED[self.model_name] = self
        return self

    def untrack(self) -> None:
        if _TRACKED.get(self.model_name) is self:
            del _TRACKED[self.model_name]

    def add_listener(self, listener: Callable[[FeedbackWindow], None]) -> None:
        self._listeners.append(listener)

    # -- recording -----------------------------------------------------------------

    def record_predictions(self, ids: Sequence[Hashable], predictions: object) -> None:
        """Remember predictions under the caller's ids (one per row)."""
        self._safely(lambda: self.store.add(_array(predictions), list(ids), None))

    def record_span_predictions(self, span: SpanKey, predictions: object) -> None:
        """Remember a model call's predictions under its (trace_id, span_id)."""
        self._safely(lambda: self.store.add(_array(predictions), None, span))

    def record_outcomes(self, ids: Sequence[Hashable], outcomes: object) -> int:
        """True outcomes for earlier predictions, by id. Returns how many were joined."""

        def run() -> int:
            truth = _array(outcomes)
            matched, predicted = self.store.take_ids(list(ids))
            self._score(predicted, truth[matched], len(truth) - len(matched))
            return len(matched)

        return self._safely(run) or 0

    def record_outcomes_for_span(
        self, span: SpanKey, outcomes: object, rows: Sequence[int] | None = None
    ) -> int:
        """True outcomes of a model call's rows (all, in order, or those in ``rows``)."""

        def run() -> int:
            truth = _array(outcomes)
            taken = self.store.take_span(span, np.asarray(rows) if rows is not None else None)
            if taken is None:
                self._score(truth[:0], truth[:0], len(truth))
                return 0
            positions, predicted = taken
            joined = min(len(positions), len(truth))
            self._score(predicted[:joined], truth[:joined], len(truth) - joined)
            return joined

        return self._safely(run) or 0

    # -- scoring -----------------------------------------------------------------------

    def _reset_window(self) -> None:
        self._count = 0
        self._correct = 0
        self._abs = 0.0
        self._sq = 0.0

    def _score(self, predicted: Array, truth: Array, unmatched: int) -> None:
        with self._lock:
            self.unmatched += unmatched
            start = 0
            while start < len(truth):
                take = min(self.spec.window - self._count, len(truth) - start)
                p, t = predicted[start : start + take], truth[start : start + take]
                if self.spec.metric == "accuracy":
                    self._correct += int(np.count_nonzero(_labels(p) == _labels(t)))
                else:
                    error = p.astype(np.float64) - t.astype(np.float64)
                    self._abs += float(np.abs(error).sum())
                    self._sq += float(np.square(error).sum())
                self._count += take
                self.matched += take
                start += take
                if self._count >= self.spec.window:
                    self._close()

    def _close(self) -> None:
        spec, n = self.spec, self._count
        if spec.metric == "accuracy":
            score = self._correct / n
            degradation = spec.baseline - score
        else:
            score = self._abs / n if spec.metric == "mae" else math.sqrt(self._sq / n)
            degradation = (score - spec.baseline) / spec.baseline if spec.baseline else math.inf
        status = 2 if degradation >= spec.critical else 1 if degradation >= spec.warning else 0
        window = FeedbackWindow(
            self.expectation, spec.metric, n, score, spec.baseline, degradation, status
        )
        self.history.append(window)
        del self.history[:-1000]
        self._reset_window()
        for listener in self._listeners:
            try:
                listener(window)
            except Exception:
                _logger.exception("otel-drift: feedback listener failed")

    def flush(self) -> FeedbackWindow | None:
        """Close the current window if it holds any outcome (e.g. at shutdown)."""
        with self._lock:
            if self._count:
                self._close()
                return self.history[-1]
        return None

    # -- metrics -----------------------------------------------------------------------

    def _attributes(self) -> dict[str, str]:
        return {sc.EXPECTATION: self.expectation, sc.METRIC: self.spec.metric}

    def _observe_score(self, _options: CallbackOptions) -> list[Observation]:
        if not self.history:
            return []
        return [Observation(self.history[-1].score, self._attributes())]

    def _observe_status(self, _options: CallbackOptions) -> list[Observation]:
        if not self.history:
            return []
        return [Observation(self.history[-1].status, self._attributes())]

    def _safely(self, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except Exception:
            self._errors += 1
            if self._errors <= 3 or self._errors % 1000 == 0:
                _logger.exception("otel-drift: label feedback failed (#%d)", self._errors)
            return None


def _array(values: object) -> Array:
    if isinstance(values, np.ndarray):
        return values.reshape(-1) if values.ndim > 1 and values.shape[1] == 1 else values
    to_numpy = getattr(values, "to_numpy", None)
    if to_numpy is not None:
        return np.asarray(to_numpy())
    detach = getattr(values, "detach", None)
    if detach is not None:
        return np.asarray(detach().cpu().numpy())
    return np.asarray(values)


def _labels(values: Array) -> Array:
    """Labels compared as the engine compares categories: 1, 1.0 and "1" are one label."""
    if values.dtype.kind == "f" or values.dtype == object:
        try:
            numbers = values.astype(np.float64)
            whole = np.isfinite(numbers) & (np.floor(np.nan_to_num(numbers)) == numbers)
            if whole.all():
                return numbers.astype(np.int64).astype(str)
        except (TypeError, ValueError):
            pass
    return values.astype(str)
