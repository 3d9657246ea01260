"""One model call: its span, and its features and prediction handed to the engine.

Each instrumentation owns a :class:`ModelCallRecorder`. ``call`` runs the
wrapped function inside a span of the instrumentation's scope
(``otel_drift.instrumentation.<name>``, which the span processor skips: the
values reach the engine here, whole, through ``feed.observe``). Rows that
break a hard constraint are counted, vectorized, and put on the span as
``drift.violation`` events before it ends: the processor could not add them
to a finished span.

Which calls and rows are observed is the budget's (``budget.py``), decided
before the call runs; a call left out costs a dict lookup for its model's
span name, attributes and watches (:class:`Prepared`, built once per model),
its rows counted and ~5 µs in all (a 1-row numpy predict of a
LogisticRegression takes ~110 µs).

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

from .budget import CallStats, CostBudget, LeftOut, WorkerMeter, worker_meter
from .columns import for_engine, missing_mask, violation_counts
from .inputs import Array, Features, shape_of
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


@dataclass(slots=True)
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
    #: The input as passed, when ``features`` reads it as it is: a call left out
    #: takes its rows and width from its shape (a numpy array, a DataFrame).
    data: object = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A model's span name and attributes, and what its calls feed: built once per
    (operation, model name, version), so a call left out is a dict lookup away."""

    span_name: str
    attributes: dict[str, Any]
    watched: Watched | None


@dataclass(frozen=True)
class Watched:
    """What one model's calls feed, and what observing them costs: resolved once per model."""

    processor: DriftSpanProcessor
    fed: tuple[ModelWatches, ...]
    stats: CallStats
    #: Values handed over per observed row (one per watched value).
    values_per_row: int
    #: ``OTEL_DRIFT_COST_BUDGET`` (0: every row observed).
    fraction: float
    #: ``OTEL_DRIFT_ML_SPANS=sampled``: no span for calls left out.
    sampled_spans: bool
    meter: WorkerMeter
    #: The expectations in ``fed``, by name (where rows left out are counted).
    expectations: tuple[str, ...]


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
        #: Per (operation, model name, version): its span and what it feeds.
        self._prepared: dict[tuple[str, str, str | None], Prepared] = {}
        self._watches_of: DriftSpanProcessor | None = None
        self._layouts: dict[tuple[str, object], tuple[dict[str, int], tuple[ModelWatch, ...]]] = {}
        #: Which calls and rows are observed (``budget.py``); clock and random injectable.
        self.budget = CostBudget()
        #: Rows left out per expectation, counted in the engine at its worker's next pass.
        #: Rows and calls left out, counted at the worker's next pass.
        self.left_out = LeftOut()
        #: Since start: rows observed.
        self.rows_observed = 0
        self.errors = 0

    @property
    def rows_left_out(self) -> int:
        """Rows left out since start (sampled out of observed calls, and whole calls)."""
        self.left_out.count()
        return self.left_out.rows

    @property
    def calls_left_out(self) -> int:
        """Calls left out whole since start."""
        self.left_out.count()
        return self.left_out.calls

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
        budget = self.budget
        try:
            prepared = self._prepare(call)
            watched = prepared.watched
            # Whether this call is observed, drawn before it runs and before its input
            # is read (its span may depend on it); its own time, and what we add
            # after it, measured one call in MEASURE_EVERY.
            seen, measure = True, False
            if watched is not None:
                measure = budget.measures(watched.stats)
                seen = budget.draw(watched.stats.share)
                if not seen and watched.sampled_spans:
                    return self._unseen(call, watched, (wrapped, args, kwargs), measure=measure)
        except Exception:
            self._error("preparing a model span")
            return wrapped(*args, **kwargs)
        attributes = prepared.attributes
        with self.tracer.start_as_current_span(
            prepared.span_name, kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            context = span.get_span_context()
            _LAST_CALL.set((context.trace_id, context.span_id))
            start = budget.clock() if measure else 0
            result = wrapped(*args, **kwargs)
            try:
                if measure and watched is not None:
                    end = budget.clock()
                    batch, observe_ns = self._after(
                        span, attributes, call, result, watched, seen=seen, call_ns=end - start
                    )
                    budget.added(watched.stats, budget.clock() - end - observe_ns)
                else:
                    batch, _ = self._after(
                        span, attributes, call, result, watched, seen=seen, call_ns=None
                    )
                # Set last, out of what is measured: a plain span with these attributes
                # costs the same (the budget counts what we add beyond it).
                if batch:
                    span.set_attributes(batch)
            except Exception:
                self._error("observing a model call")
            return result

    def _unseen(
        self,
        call: ModelCall,
        watched: Watched,
        invocation: tuple[Callable[..., T], Sequence[Any], Mapping[str, Any]],
        *,
        measure: bool,
    ) -> T:
        """A call left out whole, with no span (``OTEL_DRIFT_ML_SPANS=sampled``)."""
        wrapped, args, kwargs = invocation
        budget = self.budget
        start = budget.clock() if measure else 0
        result = wrapped(*args, **kwargs)
        try:
            end = budget.clock() if measure else 0
            shape = shape_of(call.data)
            rows = shape[0] if shape is not None else _rows(call.features(), call, result)
            if rows:
                if measure:  # else the plan stands: only a measured call changes it
                    self._plan(watched, rows, end - start)
                self._leave_out(watched, rows, whole=True)
            if measure:
                budget.added(watched.stats, budget.clock() - end)
        except Exception:
            self._error("counting a model call left out")
        return result

    # -- after the call ----------------------------------------------------------

    def _after(
        self,
        span: Span,
        attributes: Mapping[str, Any],
        call: ModelCall,
        result: object,
        watched: Watched | None,
        *,
        seen: bool,
        call_ns: int | None,
    ) -> tuple[dict[str, Any], int]:
        """Count or observe the call's rows; returns the batch's attributes for its
        span and the CPU nanoseconds spent observing (0: left out, or not watched)."""
        if not seen:
            shape = shape_of(call.data)
            if shape is not None:  # a call left out: its rows counted, nothing read
                _feedback(span, attributes, call, result, None)
                if watched is not None and shape[0]:
                    if call_ns is not None:
                        self._plan(watched, shape[0], call_ns)
                    self._leave_out(watched, shape[0], whole=True)
                return {sc.ML_BATCH_SIZE: shape[0], sc.ML_FEATURES: shape[1]}, 0
        features = call.features()
        prediction = None if features is not None else call.prediction(result)
        rows = _rows(features, call, result, prediction)
        batch: dict[str, Any] = {}
        if rows is not None:
            batch[sc.ML_BATCH_SIZE] = rows
        if features is not None:
            batch[sc.ML_FEATURES] = features.width
            if features.is_sparse:
                batch[sc.ML_INPUT_SPARSE] = True
        prediction = _feedback(span, attributes, call, result, prediction)
        if watched is None or not rows:
            return batch, 0
        keep = self._plan(watched, rows, call_ns) if seen or call_ns is not None else rows
        if not seen:
            self._leave_out(watched, rows, whole=True)
            return batch, 0
        budget = self.budget
        start = budget.clock()
        prediction = call.prediction(result) if prediction is None else prediction
        sample = budget.sample(rows, keep)
        observed = rows if sample is None else len(sample)
        self._observe(span, watched, (features, prediction), observed, sample)
        watched.meter.handed(observed * watched.values_per_row)
        self.rows_observed += observed
        if observed < rows:
            self._leave_out(watched, rows - observed, whole=False)
        observe_ns = budget.clock() - start
        budget.observed(watched.stats, observe_ns)
        return batch, observe_ns

    def _plan(self, watched: Watched, rows: int, call_ns: int | None) -> int:
        """Rows to observe of this call if it is observed; sets the share of calls
        observed (after a measured or an observed call only: a few float operations)."""
        if call_ns is not None:
            self.budget.called(watched.stats, call_ns)
        return self.budget.plan(
            watched.stats, rows, watched.values_per_row, watched.fraction, watched.meter
        )

    def _observe(
        self,
        span: Span,
        watched: Watched,
        inputs: tuple[Features | None, Array | None],
        rows: int,
        sample: Array | None,
    ) -> None:
        """Hand the observed ``rows`` (all, or those in ``sample``) of the call's
        (features, prediction) to each expectation."""
        features, prediction = inputs
        processor = watched.processor
        matrix = features.numeric_matrix() if features is not None else None
        if matrix is not None and sample is not None:
            matrix = matrix[sample]
        for fed in watched.fed:
            columns: dict[str, Any] = {}
            # Features read straight from a numeric input matrix: the engine copies
            # the matrix once and bins its columns in one pass (observe_matrix).
            columns_of: dict[str, int] = {}
            checked = fed.watches
            if matrix is not None and features is not None:
                columns_of, checked = self._layout(fed, features)
            for watch in checked:
                column = _column(watch, features, prediction)
                if column is not None and sample is not None:
                    column = column[sample]
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
        """(numeric matrix column of each feature watch found in it, the watches
        to read and check per call), per input layout.

        Checked per call: constrained features (their breaks become events on
        the span) and every watch not read from the matrix. The mapping is the
        same object call after call, so the engine's layout cache finds it at once.
        """
        key = (fed.expectation, features.layout_key)
        found = self._layouts.get(key)
        if found is None:
            columns_of: dict[str, int] = {}
            checked: list[ModelWatch] = []
            for watch in fed.watches:
                position = (
                    features.matrix_position(watch.feature)
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

    # -- which expectations, and rows left out -------------------------------------

    def _prepare(self, call: ModelCall) -> Prepared:
        name, version = model_identity(call.model, call.default_name)
        processor = self.processor()
        if processor is not self._watches_of:
            self._attach(processor)
        key = (call.operation, name, version)
        found = self._prepared.get(key)
        if found is not None:
            return found
        attributes: dict[str, Any] = {
            sc.ML_MODEL_NAME: name,
            sc.ML_FRAMEWORK: self.framework,
            sc.ML_OPERATION: call.operation,
        }
        if version is not None:
            attributes[sc.ML_MODEL_VERSION] = version
        span_name = f"{call.operation} {name}"
        found = Prepared(span_name, attributes, self._watched(processor, span_name, attributes))
        if len(self._prepared) >= MAX_CACHED:
            self._prepared.clear()
        self._prepared[key] = found
        return found

    def _watched(
        self,
        processor: DriftSpanProcessor | None,
        span_name: str,
        attributes: Mapping[str, Any],
    ) -> Watched | None:
        if processor is None:
            return None
        expectations = feed.expectations_for(
            processor, span_name, SpanKind.INTERNAL, self.scope, attributes
        )
        fed = tuple(model_watches(expectation) for expectation in expectations)
        if not fed:
            return None
        return Watched(
            processor,
            fed,
            CallStats(),
            sum(len(each.watches) for each in fed),
            feed.cost_budget(processor),
            feed.spans_sampled(processor),
            worker_meter(processor),
            tuple(each.expectation for each in fed),
        )

    def _attach(self, processor: DriftSpanProcessor | None) -> None:
        """Feed ``processor`` from now on (None: none); rows left out are counted in its engine."""
        self.left_out.count()  # what the previous processor is owed
        self._prepared.clear()
        self._layouts.clear()
        self._watches_of = processor
        if processor is None:
            return

        def count() -> None:  # on the worker, before each pass (and in every flush)
            if self._watches_of is processor:
                self.left_out.count()

        feed.on_worker_pass(processor, count)

    def _leave_out(self, watched: Watched, rows: int, *, whole: bool) -> None:
        self.left_out.add(watched.processor, watched.expectations, rows, whole)

    def _error(self, where: str) -> None:
        self.errors += 1
        # The first few in full, then every 1000th: a persistent bug must not flood logs.
        if self.errors <= 3 or self.errors % 1000 == 0:
            _logger.exception("otel-drift: internal error %s (#%d)", where, self.errors)


def _rows(
    features: Features | None, call: ModelCall, result: object, prediction: Array | None = None
) -> int | None:
    """Rows of a call: its input's, else its output's."""
    if features is not None:
        return features.rows
    prediction = call.prediction(result) if prediction is None else prediction
    return int(prediction.shape[0]) if prediction is not None else None


def _feedback(
    span: Span,
    attributes: Mapping[str, Any],
    call: ModelCall,
    result: object,
    prediction: Array | None,
) -> Array | None:
    """Hand the call's predictions to label feedback when its model is tracked; returns
    the prediction array when it was read."""
    feedback = tracked(attributes[sc.ML_MODEL_NAME])
    if feedback is None:
        return prediction
    prediction = call.prediction(result) if prediction is None else prediction
    if prediction is not None:
        context = span.get_span_context()
        column = prediction_column(prediction, None)
        if column is not None:
            feedback.record_span_predictions((context.trace_id, context.span_id), column)
    return prediction


def _column(watch: ModelWatch, features: Features | None, prediction: Array | None) -> Array | None:
    if watch.role == "prediction":
        return prediction_column(prediction, watch.output) if prediction is not None else None
    if features is None or watch.feature is None:
        return None
    column = features.column(watch.feature)
    if column is None or watch.role == "feature":
        return column
    return missing_mask(column).astype("float64")
