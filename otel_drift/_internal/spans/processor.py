"""``DriftSpanProcessor``: the hot path from a finished span to the engine.

``on_end`` runs on the request thread, synchronously, and the SDK does not
catch what it raises; so it does the least possible (a cached plan lookup,
reading a few attributes, one deque append) and swallows every error of its
own. Everything else happens on the engine's worker.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from otel_drift._internal.engine.core import DriftEngine
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile
from otel_drift._internal.settings import Settings
from otel_drift._internal.signals.core import (
    DriftMetrics,
    EvaluationSpans,
    ValueHistograms,
    ViolationSpans,
)
from otel_drift._internal.spans.matching import EMPTY_PLAN, SpanMatcher

_logger = logging.getLogger(__name__)

_ATTRIBUTE = 0
_DURATION = 1
_STATUS = 2
#: An attribute watched under one name: ``names`` is then that name itself.
_ONE_ATTRIBUTE = 3

#: Per expectation: one (code, attribute names) per watched value.
Extractor = tuple[tuple[int, Any], ...]


def _extractor(expectation: Expectation) -> Extractor:
    specs: list[tuple[int, Any]] = []
    for watch in expectation.watch:
        kind = watch.source.kind
        if kind == "span.duration":
            specs.append((_DURATION, ()))
        elif kind == "span.status":
            specs.append((_STATUS, ()))
        elif len(watch.source.attributes) == 1:
            specs.append((_ONE_ATTRIBUTE, watch.source.attributes[0]))
        else:
            # attribute and http.status_class both read the first present attribute;
            # the worker derives the class.
            specs.append((_ATTRIBUTE, watch.source.attributes))
    return tuple(specs)


def _values(
    extractor: Extractor,
    span: ReadableSpan,
    attributes: Mapping[str, object],
    *,
    public: bool = False,
) -> tuple[object, ...]:
    """The watched values of one expectation, from an SDK span's private fields,
    or through the public API (``public``: see ``_private_layout_holds``)."""
    if public:
        end, start, status = span.end_time, span.start_time, span.status
    else:
        end, start, status = span._end_time, span._start_time, span._status
    values: list[object] = []
    for code, names in extractor:
        if code == _ONE_ATTRIBUTE:
            values.append(attributes.get(names))
        elif code == _ATTRIBUTE:
            values.append(_first_present(attributes, names))
        elif code == _DURATION:
            values.append(end - start if end is not None and start is not None else None)
        else:
            values.append(status.status_code)
    return tuple(values)


def _first_present(attributes: Mapping[str, object], names: Sequence[str]) -> object:
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return value
    return None


def _column(
    code: int,
    names: Any,
    spans: Sequence[ReadableSpan],
    attributes: Sequence[Mapping[str, object]],
) -> list[object]:
    """One watched value of many SDK spans: ``_values`` column-wise."""
    if code == _ONE_ATTRIBUTE:
        return [each.get(names) for each in attributes]
    if code == _ATTRIBUTE:
        if len(names) == 2:  # the usual pair: the stable name, then the old one
            first, second = names
            return [
                value if (value := each.get(first)) is not None else each.get(second)
                for each in attributes
            ]
        return [_first_present(each, names) for each in attributes]
    if code == _DURATION:
        return [
            end - start
            if (end := span._end_time) is not None and (start := span._start_time) is not None
            else None
            for span in spans
        ]
    return [span._status._status_code for span in spans]


def _attributes_of(span: ReadableSpan) -> Mapping[str, object]:
    """The span's attributes as a plain dict where the SDK allows it.

    ``ReadableSpan.attributes`` wraps the SDK's ``BoundedAttributes`` in a
    read-only proxy whose ``get`` runs Python code and raises and catches
    ``KeyError`` on every miss (~0.9 us against ~0.05 us for a dict). The span
    is finished, so its attributes can no longer change; with the SDK pinned,
    reading its private dict is safe, and anything else takes the public path.
    """
    raw = getattr(span, "_attributes", None)
    if type(raw) is BoundedAttributes:
        return raw._dict
    return span.attributes or {}


def _private_layout_holds() -> bool:
    """Whether this SDK's ``ReadableSpan`` keeps what ``on_end`` reads in the private
    attributes it reads them from (true of the pinned SDK, 1.45).

    Each public property costs a Python call (~50 ns, three to five of them per
    span). ``on_end`` reads ``_name``, ``_kind``, ``_instrumentation_scope._name``,
    ``_attributes`` (``BoundedAttributes._dict``), ``_context``, ``_start_time``,
    ``_end_time`` and ``_status._status_code`` directly, from spans of exactly
    this class (those the SDK hands to processors), when this probe, run once at
    import, finds every one equal to its public counterpart; otherwise, and for
    any other span class, it uses the public properties.
    """
    try:
        scope = InstrumentationScope("otel_drift.probe")
        attributes = BoundedAttributes(attributes={"probe": 1}, immutable=False)
        status = Status(StatusCode.ERROR)
        context = SpanContext(1, 2, is_remote=False)
        span = ReadableSpan(
            name="probe",
            context=context,
            attributes=attributes,
            kind=SpanKind.CONSUMER,
            instrumentation_scope=scope,
            resource=Resource.get_empty(),
            status=status,
            start_time=3,
            end_time=5,
        )
        private: dict[str, Any] = vars(span)
        return bool(
            private["_name"] is span.name
            and private["_kind"] is span.kind is SpanKind.CONSUMER
            and type(span.kind._value_) is int
            and private["_instrumentation_scope"] is span.instrumentation_scope is scope
            and scope._name == scope.name
            and private["_context"] is span.context
            and private["_start_time"] == span.start_time == 3
            and private["_end_time"] == span.end_time == 5
            and private["_status"] is span.status
            and private["_status"]._status_code is span.status.status_code
            and private["_attributes"] is attributes
            and attributes._dict == dict(span.attributes or {})
        )
    except Exception:
        return False


#: Ended spans that on_end may park for the worker (their memory stays bounded:
#: each holds its attributes and events, a few KB).
MAX_PARKED_SPANS = 8192

#: The span class whose private attributes ``on_end`` reads, or None.
_FAST_SPAN: type | None = ReadableSpan if _private_layout_holds() else None


class DriftSpanProcessor(SpanProcessor):
    """Compares finished spans with declared expectations and reports drift.

    Add it to an SDK ``TracerProvider`` *before* the exporting processor, so
    that the evaluation spans of the last window, emitted at shutdown, are
    still exported::

        provider.add_span_processor(DriftSpanProcessor("expectations.yaml"))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))

    ``expectations`` is a path or an already loaded file. Signals go to the
    given providers, or to the global ones.
    """

    def __init__(
        self,
        expectations: str | os.PathLike[str] | ExpectationsFile,
        *,
        settings: Settings | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        emit_spans: bool = True,
        emit_metrics: bool = True,
    ) -> None:
        loaded = (
            expectations
            if isinstance(expectations, ExpectationsFile)
            else load_expectations(expectations)
        )
        self.settings = settings or Settings()
        self.engine = DriftEngine(loaded, self.settings)
        self._matcher = SpanMatcher(loaded.expectations)
        self._plans = self._matcher.plans
        self._index = self._matcher.index
        self._kinds = self._matcher.kinds
        self._extractors: Sequence[Extractor] = tuple(_extractor(e) for e in loaded.expectations)
        self._submit = self.engine.submit
        self._errors = 0
        #: Ended spans parked by on_end for the worker, which matches them and
        #: reads their values: see on_end. Bounded; past it, on_end does it in place.
        self._ended: deque[ReadableSpan] = deque()
        self._ended_capacity = min(self.settings.queue_size, MAX_PARKED_SPANS)
        #: Parked spans at which the next one wakes the worker (half the bound).
        self._ended_wake_before = max(1, self._ended_capacity // 2) - 1
        self.engine.add_source(self._drain)
        weak = weakref.ref(self)

        def after_fork() -> None:
            processor = weak()
            if processor is not None:
                processor._ended.clear()  # the parent's spans, counted (or not) there

        os.register_at_fork(after_in_child=after_fork)
        if emit_spans:
            self.engine.add_listener(EvaluationSpans(tracer_provider))
            if self.settings.violation_spans_per_second > 0:
                self.engine.add_violation_listener(
                    ViolationSpans(
                        self.settings.violation_spans_per_second,
                        tracer_provider,
                        hash_key=self.settings.value_hash_key,
                    )
                )
        self.metrics = DriftMetrics(self.engine, meter_provider) if emit_metrics else None
        if emit_metrics and self.settings.value_histograms:
            ValueHistograms(self.engine, meter_provider)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        # The request's thread only parks the span; the worker matches it and reads
        # its values, many spans in a row. Done here, between two requests' worth of
        # other code, the same work ran with cold caches: ~3.7 µs a matched span in a
        # Flask app against ~0.7 µs for this append. (An ended span no longer changes.)
        ended = self._ended
        parked = len(ended)
        if parked < self._ended_capacity:
            if type(span) is _FAST_SPAN:
                kind = span._kind
                if type(kind) is SpanKind and not self._kinds[kind._value_]:
                    # A kind no expectation matches: not parked, where the worker would
                    # read it again, cold (FastAPI's two ASGI spans a request, or a
                    # service's client spans when only server spans are watched).
                    return
            ended.append(span)
            if parked == self._ended_wake_before:
                self.engine.wake()
            elif not parked:  # the first since the last pass: a no-op once it runs
                self.engine.start_worker()
            return
        self._match(span)  # parked spans at their bound (or shut down): in place

    def _drain(self) -> None:
        """Match the parked spans and feed their values to the engine, a column per
        watched value: the engine calls this on its worker, holding its lock.

        Column by column, in comprehensions, the values of a pass's spans cost
        about a fifth less than span by span through ``submit`` and the queue
        (a tuple per span, then taken apart again into columns).
        """
        for index, contexts, columns in self._columns_of(self._take_parked()):
            self.engine.feed_columns(index, contexts, columns)

    def _columns_of(
        self, spans: Sequence[ReadableSpan]
    ) -> list[tuple[int, list[SpanContext | None], list[list[object]]]]:
        """Per expectation the spans match: their contexts and a column per watched
        value, each in the order the spans ended. Spans of other classes, and the
        spans of a group whose columns cannot be read, are queued one by one."""
        matched = self._matched
        # Per expectation: its spans and their attributes.
        groups: dict[int, tuple[list[ReadableSpan], list[Mapping[str, object]]]] = {}
        for span in spans:
            try:
                if type(span) is not _FAST_SPAN:
                    self._on_end_public(span)  # queued, as on_end would
                    continue
                found = matched(span)
                if found is None:
                    continue
                indices, attributes = found
                for index in indices:
                    group = groups.get(index)
                    if group is None:
                        group = groups[index] = ([], [])
                    group[0].append(span)
                    group[1].append(attributes)
            except Exception:
                self._count_error()
        found_columns = []
        for index, (group_spans, group_attributes) in groups.items():
            extractor = self._extractors[index]
            try:
                columns = [
                    _column(code, names, group_spans, group_attributes) for code, names in extractor
                ]
                contexts: list[SpanContext | None] = [span._context for span in group_spans]
            except Exception:
                # Something odd in one span: span by span, so only that one is lost.
                for span, attributes in zip(group_spans, group_attributes, strict=True):
                    try:
                        self._submit(index, span._context, _values(extractor, span, attributes))
                    except Exception:
                        self._count_error()
                continue
            found_columns.append((index, contexts, columns))
        return found_columns

    def _take_parked(self) -> list[ReadableSpan]:
        ended = self._ended
        popleft = ended.popleft
        spans: list[ReadableSpan] = []
        keep = spans.append
        try:
            for _ in range(len(ended)):
                keep(popleft())
        except IndexError:
            pass  # taken meanwhile (a fork's clear): keep what was taken
        return spans

    def _match_parked(self) -> None:
        """Match the parked spans one by one through ``submit`` (which counts them
        as dropped once the engine is shut down)."""
        for span in self._take_parked():
            self._match(span)

    def _matched(self, span: ReadableSpan) -> tuple[Sequence[int], Mapping[str, object]] | None:
        """The expectations a span of the SDK's class matches, and its attributes.

        Inline, each field read once: every call or property costs ~50 ns here.
        """
        scope = span._instrumentation_scope
        scope_name = "" if scope is None else scope._name
        kind = span._kind
        plan = None
        by_name = self._index.get(scope_name)
        if by_name is not None and type(kind) is SpanKind:
            slots = by_name.get(span._name)
            if slots is not None:
                plan = slots[kind._value_]
        if plan is None:
            plan = self._matcher.plan_for((span._name, kind, scope_name))
        if plan is EMPTY_PLAN:
            return None
        raw = span._attributes
        attributes: Mapping[str, object] = (
            raw._dict if type(raw) is BoundedAttributes else (span.attributes or {})
        )
        indices: Sequence[int] | None
        key = plan.key
        if key is not None:
            try:
                indices = plan.direct.get(attributes.get(key))
            except Exception:
                # Unhashable, or a hostile __hash__: equal to no scalar of the file.
                return None
            if indices is None:
                return None
        else:
            indices = plan.always
            if indices is None:
                indices = plan.matches(attributes)
            if not indices:
                return None
        return indices, attributes

    def _match(self, span: ReadableSpan) -> None:
        """Match one span and queue its values (``on_end`` when the parking is full).

        What the SDK hands over takes the private path; anything else
        ``_on_end_public``.
        """
        try:
            if type(span) is not _FAST_SPAN:
                self._on_end_public(span)
                return
            found = self._matched(span)
            if found is None:
                return
            indices, attributes = found
            context = span._context
            for index in indices:
                self._submit(index, context, _values(self._extractors[index], span, attributes))
        except Exception:
            self._count_error()

    def _on_end_public(self, span: ReadableSpan) -> None:
        """``on_end`` through the public ``ReadableSpan`` API only; ``Plan.matches``
        decides alone. The same result as the private path, slower."""
        scope = span.instrumentation_scope
        key = (span.name, span.kind, "" if scope is None else scope.name)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._matcher.plan_for(key)
        if plan is EMPTY_PLAN:
            return
        attributes = _attributes_of(span)
        for index in plan.matches(attributes):
            values = _values(self._extractors[index], span, attributes, public=True)
            self.engine.submit(index, span.context, values)

    def _count_error(self) -> None:
        self._errors += 1
        if self._errors <= 3 or self._errors % 10000 == 0:
            _logger.exception("otel-drift: error in on_end (#%d); span ignored", self._errors)

    def expectations_for(
        self,
        span_name: str,
        kind: SpanKind,
        scope: str,
        attributes: Mapping[str, object],
    ) -> list[str]:
        """Names of the expectations that a span like this one matches.

        For instrumentations that hand whole batches to ``self.engine.observe``
        (their own spans, scope ``otel_drift.instrumentation.*``, are skipped by
        ``on_end`` so nothing is counted twice). Compute it once per model and
        cache it, not per call.
        """
        expectations = self.engine.expectations.expectations
        return [
            expectations[i].name for i in self._matcher.match(span_name, kind, scope, attributes)
        ]

    def shutdown(self) -> None:
        # Spans that end from now on are matched in place, and dropped and counted
        # by the engine once it is shut down; those parked go in its last flush.
        self._ended_capacity = 0
        try:
            self.engine.shutdown()
            self._match_parked()  # any parked after that flush: dropped and counted
        except Exception:
            _logger.exception("otel-drift: error during shutdown")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self.engine.force_flush(timeout_millis)
        except Exception:
            _logger.exception("otel-drift: error during force_flush")
            return False
