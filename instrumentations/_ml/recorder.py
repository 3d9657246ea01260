"""One model call: its span, and its features and prediction handed to the engine.

Each instrumentation owns a :class:`ModelCallRecorder`. ``call`` runs the
wrapped function inside a span of the instrumentation's scope
(``otel_drift.instrumentation.<name>``, which the span processor skips: the
values reach the engine here, whole, through ``feed.observe``). Rows that
break a hard constraint are counted, vectorized, and put on the span as
``drift.violation`` events before it ends: the processor could not add them
to a finished span.

Nothing of ours ever raises into the host: the user's exceptions pass
through untouched (recorded on the span), our own are logged, rate-limited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from otel_drift._internal import feed
from otel_drift._internal import semconv as sc
from otel_drift._internal.feedback.labels import tracked
from otel_drift.version import __version__

from .columns import for_engine, missing_mask, violation_counts
from .inputs import Array, Features
from .naming import model_identity
from .outputs import prediction_array, prediction_column
from .watches import ModelWatch, ModelWatches, model_watches

if TYPE_CHECKING:
    from otel_drift import DriftSpanProcessor

_logger = logging.getLogger(__name__)

T = TypeVar("T")

#: True while a model call is running in this context: calls it makes itself
#: (a Pipeline's steps, a classifier's predict calling predict_proba, a torch
#: module's sub-modules) and training (fit) make no span of their own.
_IN_MODEL_CALL: ContextVar[bool] = ContextVar("otel_drift_in_model_call", default=False)

#: (trace_id, span_id) of the last model call made in this context, for label feedback.
_LAST_CALL: ContextVar[tuple[int, int] | None] = ContextVar(
    "otel_drift_last_model_call", default=None
)

#: Distinct (model, operation) watch sets, and input layouts, remembered per recorder.
MAX_CACHED = 1024


def in_model_call() -> bool:
    return _IN_MODEL_CALL.get()


def last_model_call() -> tuple[int, int] | None:
    """(trace_id, span_id) of the last instrumented model call made in this context.

    Store it with the request; when the true outcome is known, hand both to
    ``LabelFeedback.record_outcomes_for_span``.
    """
    return _LAST_CALL.get()


def call_quietly(wrapped: Callable[..., T], args: Sequence[Any], kwargs: Mapping[str, Any]) -> T:
    """Run ``wrapped`` as part of something else (training, an outer model call): no span."""
    token = _IN_MODEL_CALL.set(True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _IN_MODEL_CALL.reset(token)


@dataclass(frozen=True)
class ModelCall:
    """What an instrumentation knows about a call before running it."""

    model: object
    operation: str
    #: Reads the input: called after the model ran (so a failed call costs nothing).
    features: Callable[[], Features | None]
    #: The model's output -> the array the prediction column comes from.
    prediction: Callable[[Any], Array | None] = prediction_array
    #: Name when the model declares none (e.g. an ONNX graph's name).
    default_name: str | None = None


class ModelCallRecorder:
    """Spans and engine feeding for one instrumentation (one framework)."""

    def __init__(
        self,
        framework: str,
        scope: str,
        tracer_provider: trace.TracerProvider | None = None,
        drift_processor: DriftSpanProcessor | None = None,
    ) -> None:
        self.framework = framework
        self.scope = scope
        self.tracer = trace.get_tracer(scope, __version__, tracer_provider)
        self._processor = drift_processor
        self._watches: dict[tuple[str, str, str | None], tuple[ModelWatches, ...]] = {}
        self._watches_of: DriftSpanProcessor | None = None
        self._layouts: dict[
            tuple[str, tuple[str, ...] | None, int], tuple[dict[str, int], tuple[ModelWatch, ...]]
        ] = {}
        self.errors = 0

    def processor(self) -> DriftSpanProcessor | None:
        return self._processor if self._processor is not None else feed.active_processor()

    # -- the call --------------------------------------------------------------

    def call(
        self,
        call: ModelCall,
        wrapped: Callable[..., T],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> T:
        if _IN_MODEL_CALL.get():
            return wrapped(*args, **kwargs)
        token = _IN_MODEL_CALL.set(True)
        try:
            return self._traced(call, wrapped, args, kwargs)
        finally:
            _IN_MODEL_CALL.reset(token)

    def _traced(
        self,
        call: ModelCall,
        wrapped: Callable[..., T],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> T:
        try:
            name, version = model_identity(call.model, call.default_name)
            attributes: dict[str, Any] = {
                sc.ML_MODEL_NAME: name,
                sc.ML_FRAMEWORK: self.framework,
                sc.ML_OPERATION: call.operation,
            }
            if version is not None:
                attributes[sc.ML_MODEL_VERSION] = version
            span_name = f"{call.operation} {name}"
        except Exception:
            self._error("preparing a model span")
            return wrapped(*args, **kwargs)
        with self.tracer.start_as_current_span(
            span_name, kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            context = span.get_span_context()
            _LAST_CALL.set((context.trace_id, context.span_id))
            result = wrapped(*args, **kwargs)
            try:
                self._observe(span, span_name, attributes, call, result)
            except Exception:
                self._error("observing a model call")
            return result

    # -- after the call ----------------------------------------------------------

    def _observe(
        self,
        span: Span,
        span_name: str,
        attributes: Mapping[str, Any],
        call: ModelCall,
        result: object,
    ) -> None:
        features = call.features()
        prediction = call.prediction(result)
        rows = (
            features.rows
            if features is not None
            else (int(prediction.shape[0]) if prediction is not None else None)
        )
        if rows is not None:
            span.set_attribute(sc.ML_BATCH_SIZE, rows)
        if features is not None:
            span.set_attribute(sc.ML_FEATURES, features.width)
            if features.is_sparse:
                span.set_attribute(sc.ML_INPUT_SPARSE, True)
        feedback = tracked(str(attributes[sc.ML_MODEL_NAME]))
        if feedback is not None and prediction is not None:
            context = span.get_span_context()
            column = prediction_column(prediction, None)
            if column is not None:
                feedback.record_span_predictions((context.trace_id, context.span_id), column)
        processor = self.processor()
        if processor is None or rows is None or rows == 0:
            return
        matrix = features.numeric_matrix() if features is not None else None
        for fed in self._watches_for(processor, span_name, attributes):
            columns: dict[str, Any] = {}
            # Features read straight from a numeric input matrix: the engine copies
            # the matrix once and bins its columns in one pass (observe_matrix).
            columns_of: dict[str, int] = {}
            checked = fed.watches
            if matrix is not None and features is not None:
                columns_of, checked = self._layout(fed, features)
            for watch in checked:
                column = _column(watch, features, prediction)
                broken = violation_counts(watch.constraints, column, rows)
                for rule, count in broken.items():
                    span.add_event(
                        sc.VIOLATION_EVENT,
                        {
                            sc.EXPECTATION: fed.expectation,
                            sc.ATTRIBUTE: watch.name,
                            sc.RULE: rule,
                            sc.VIOLATIONS: count,
                        },
                    )
                if column is not None and watch.name not in columns_of:
                    columns[watch.name] = for_engine(column)
            if columns_of and matrix is not None:
                feed.observe_matrix(processor, fed.expectation, matrix, columns_of, columns=columns)
            else:
                feed.observe(processor, fed.expectation, columns, rows=rows)

    def _layout(
        self, fed: ModelWatches, features: Features
    ) -> tuple[dict[str, int], tuple[ModelWatch, ...]]:
        """(matrix column of each feature watch found in the matrix, the watches to
        read and check per call), per input layout.

        Checked per call: constrained features (their breaks become events on
        the span) and every watch not read from the matrix. The mapping is the
        same object call after call, so the engine's layout cache finds it at once.
        """
        key = (fed.expectation, features.names, features.width)
        found = self._layouts.get(key)
        if found is None:
            columns_of: dict[str, int] = {}
            checked: list[ModelWatch] = []
            for watch in fed.watches:
                position = (
                    features.position(watch.feature)
                    if watch.role == "feature" and watch.feature is not None
                    else None
                )
                if position is not None:
                    columns_of[watch.name] = position
                if position is None or not watch.constraints.empty:
                    checked.append(watch)
            if len(self._layouts) >= MAX_CACHED:
                self._layouts.clear()
            found = self._layouts[key] = (columns_of, tuple(checked))
        return found

    def _watches_for(
        self, processor: DriftSpanProcessor, span_name: str, attributes: Mapping[str, Any]
    ) -> tuple[ModelWatches, ...]:
        if processor is not self._watches_of:
            self._watches.clear()
            self._layouts.clear()
            self._watches_of = processor
        key = (
            span_name,
            str(attributes.get(sc.ML_MODEL_NAME)),
            attributes.get(sc.ML_MODEL_VERSION),
        )
        found = self._watches.get(key)
        if found is None:
            expectations = feed.expectations_for(
                processor, span_name, SpanKind.INTERNAL, self.scope, attributes
            )
            found = tuple(model_watches(expectation) for expectation in expectations)
            if len(self._watches) >= MAX_CACHED:
                self._watches.clear()
            self._watches[key] = found
        return found

    def _error(self, where: str) -> None:
        self.errors += 1
        # The first few in full, then every 1000th: a persistent bug must not flood logs.
        if self.errors <= 3 or self.errors % 1000 == 0:
            _logger.exception("otel-drift: internal error %s (#%d)", where, self.errors)


def _column(watch: ModelWatch, features: Features | None, prediction: Array | None) -> Array | None:
    if watch.role == "prediction":
        return prediction_column(prediction, watch.output) if prediction is not None else None
    if features is None or watch.feature is None:
        return None
    column = features.column(watch.feature)
    if column is None or watch.role == "feature":
        return column
    return missing_mask(column).astype("float64")
