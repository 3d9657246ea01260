"""``SpanReader``: the processor's other half, which runs on the engine's worker.

``DriftSpanProcessor.on_end`` only parks finished spans. The reader takes them
from there on the worker, many in a row, finds the expectations each one feeds
(``SpanMatcher``), reads their watched values and hands them to the engine, a
column per watched value (``engine.feed_columns``), or one span at a time
(``engine.submit``). It reads the values raw, as ``engine.sources`` defines
them: an attribute (the first of its names present), the duration in
nanoseconds, the status code; the engine converts them.

Spans of the SDK's own class are read from its private fields, which costs a
fraction of the public properties; any other span, or an SDK whose layout
changed (``private_layout_holds``), takes the public API.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from otel_drift._internal.engine.core import DriftEngine
from otel_drift._internal.engine.sources import first_present
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile
from otel_drift._internal.spans.matching import NO_CANDIDATES, SpanMatcher
from otel_drift._internal.spans.unmatched import UnmatchedWatch

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
    or through the public API (``public``: see ``private_layout_holds``)."""
    if public:
        end, start, status = span.end_time, span.start_time, span.status
    else:
        end, start, status = span._end_time, span._start_time, span._status
    values: list[object] = []
    for code, names in extractor:
        if code == _ONE_ATTRIBUTE:
            values.append(attributes.get(names))
        elif code == _ATTRIBUTE:
            values.append(first_present(attributes, names))
        elif code == _DURATION:
            values.append(end - start if end is not None and start is not None else None)
        else:
            values.append(status.status_code)
    return tuple(values)


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
        return [first_present(each, names) for each in attributes]
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


def private_layout_holds() -> bool:
    """Whether this SDK's ``ReadableSpan`` keeps what the processor and the reader
    read in the private attributes they read them from (true of the pinned SDK, 1.45).

    Each public property costs a Python call (~50 ns, three to five of them per
    span). ``on_end`` reads ``_kind``; the reader reads ``_name``, ``_kind``,
    ``_instrumentation_scope._name``, ``_attributes`` (``BoundedAttributes._dict``),
    ``_context``, ``_start_time``, ``_end_time`` and ``_status._status_code``
    directly, from spans of exactly this class (those the SDK hands to
    processors), when this probe, run once at import, finds every one equal to
    its public counterpart; otherwise, and for any other span class, they use
    the public properties.
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


class SpanReader:
    """Matches the spans a ``DriftSpanProcessor`` parked and feeds their values to
    the engine: registered as the engine's source, it runs on the worker.

    ``parked`` is the processor's deque of ended spans; ``fast_span`` the span
    class whose private fields may be read (None: the public API only).
    """

    def __init__(
        self,
        engine: DriftEngine,
        matcher: SpanMatcher,
        expectations: ExpectationsFile,
        parked: deque[ReadableSpan],
        fast_span: type | None,
    ) -> None:
        self.engine = engine
        self._matcher = matcher
        self._candidates = matcher.candidates
        self._index = matcher.index
        self._extractors: Sequence[Extractor] = tuple(
            _extractor(e) for e in expectations.expectations
        )
        #: The expectations no span matched: it reads the first passes' spans too.
        self.unmatched = UnmatchedWatch(engine, expectations)
        self._parked = parked
        self._fast_span = fast_span
        self._submit = engine.submit
        #: Errors swallowed reading spans (each loses its span only).
        self.errors = 0

    def drain(self) -> None:
        """Match the parked spans and feed their values to the engine, a column per
        watched value: the engine calls this on its worker, holding its lock.

        Column by column, in comprehensions, the values of a pass's spans cost
        about a fifth less than span by span through ``submit`` and the queue
        (a tuple per span, then taken apart again into columns).
        """
        spans = self._take_parked()
        unmatched = self.unmatched
        if unmatched.active:  # the first passes only, until its decision
            unmatched.see(spans)
        for index, contexts, columns in self._columns_of(spans):
            self.engine.feed_columns(index, contexts, columns)
        if unmatched.active:
            unmatched.check()

    def match_parked(self) -> None:
        """Match the parked spans one by one through ``submit`` (which counts them
        as dropped once the engine is shut down)."""
        for span in self._take_parked():
            self.match(span)

    def match(self, span: ReadableSpan) -> None:
        """Match one span and queue its values (``on_end`` when the parking is full).

        What the SDK hands over takes the private path; anything else
        ``_match_public``.
        """
        try:
            if type(span) is not self._fast_span:
                self._match_public(span)
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

    def _columns_of(
        self, spans: Sequence[ReadableSpan]
    ) -> list[tuple[int, list[SpanContext | None], list[list[object]]]]:
        """Per expectation the spans match: their contexts and a column per watched
        value, each in the order the spans ended. Spans of other classes, and the
        spans of a group whose columns cannot be read, are queued one by one."""
        matched = self._matched
        fast_span = self._fast_span
        # Per expectation: its spans and their attributes.
        groups: dict[int, tuple[list[ReadableSpan], list[Mapping[str, object]]]] = {}
        for span in spans:
            try:
                if type(span) is not fast_span:
                    self._match_public(span)  # queued, as on_end would
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
        parked = self._parked
        popleft = parked.popleft
        spans: list[ReadableSpan] = []
        keep = spans.append
        try:
            for _ in range(len(parked)):
                keep(popleft())
        except IndexError:
            pass  # taken meanwhile (a fork's clear): keep what was taken
        return spans

    def _matched(self, span: ReadableSpan) -> tuple[Sequence[int], Mapping[str, object]] | None:
        """The expectations a span of the SDK's class matches, and its attributes.

        Inline, each field read once: every call or property costs ~50 ns here.
        """
        scope = span._instrumentation_scope
        scope_name = "" if scope is None else scope._name
        kind = span._kind
        candidates = None
        by_name = self._index.get(scope_name)
        if by_name is not None and type(kind) is SpanKind:
            slots = by_name.get(span._name)
            if slots is not None:
                candidates = slots[kind._value_]
        if candidates is None:
            candidates = self._matcher.candidates_for((span._name, kind, scope_name))
        if candidates is NO_CANDIDATES:
            return None
        raw = span._attributes
        attributes: Mapping[str, object] = (
            raw._dict if type(raw) is BoundedAttributes else (span.attributes or {})
        )
        indices: Sequence[int] | None
        key = candidates.key
        if key is not None:
            try:
                indices = candidates.direct.get(attributes.get(key))
            except Exception:
                # Unhashable, or a hostile __hash__: equal to no scalar of the file.
                return None
            if indices is None:
                return None
        else:
            indices = candidates.always
            if indices is None:
                indices = candidates.matches(attributes)
            if not indices:
                return None
        return indices, attributes

    def _match_public(self, span: ReadableSpan) -> None:
        """``match`` through the public ``ReadableSpan`` API only;
        ``Candidates.matches`` decides alone. The same result as the private path,
        slower."""
        scope = span.instrumentation_scope
        key = (span.name, span.kind, "" if scope is None else scope.name)
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = self._matcher.candidates_for(key)
        if candidates is NO_CANDIDATES:
            return
        attributes = _attributes_of(span)
        for index in candidates.matches(attributes):
            values = _values(self._extractors[index], span, attributes, public=True)
            self.engine.submit(index, span.context, values)

    def _count_error(self) -> None:
        self.errors += 1
        if self.errors <= 3 or self.errors % 10000 == 0:
            _logger.exception("otel-drift: error in on_end (#%d); span ignored", self.errors)
