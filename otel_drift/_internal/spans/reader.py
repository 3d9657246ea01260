"""``SpanReader``: the processor's other half, which runs on the engine's worker.

``DriftSpanProcessor.on_end`` decides on the request thread which
expectations a span feeds and writes a row of its raw values into each one's
buffer (``spans/rows.py``); a span it cannot decide that way (the first of a
new name, kind and scope; expectations testing an attribute against a regex;
the first spans, which the unmatched check reads; another span class) it
parks whole. On the worker, the reader matches the parked spans (``SpanMatcher``)
and writes their rows the same way, then feeds the engine each expectation's
rows, a column per watched value (``engine.feed_columns``); or queues them one
at a time (``engine.submit``). The values stay raw, as ``engine.sources``
defines them: an attribute (the first of its names present), the duration in
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
from otel_drift._internal.expectations.model import ExpectationsFile
from otel_drift._internal.spans.matching import NO_CANDIDATES, SpanMatcher
from otel_drift._internal.spans.rows import Rows, row_capacity
from otel_drift._internal.spans.unmatched import UnmatchedWatch, span_matched

_logger = logging.getLogger(__name__)


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
    """Feeds the engine the rows ``DriftSpanProcessor.on_end`` wrote, and the spans it
    parked, matched here: registered as the engine's source, it runs on the worker.

    ``parked`` is the processor's deque of ended spans; ``fast_span`` the span
    class whose private fields may be read (None: the public API only);
    ``capacity`` the parking's bound, which the expectations' buffers of rows share
    (``rows.row_capacity``).
    """

    def __init__(
        self,
        engine: DriftEngine,
        matcher: SpanMatcher,
        expectations: ExpectationsFile,
        parked: deque[ReadableSpan],
        fast_span: type | None,
        *,
        capacity: int,
    ) -> None:
        self.engine = engine
        self._matcher = matcher
        self._candidates = matcher.candidates
        self._index = matcher.index
        #: Per expectation: its buffer of rows (``on_end`` writes them too).
        rows = row_capacity(capacity, sum(map(span_matched, expectations.expectations)))
        self.rows: Sequence[Rows] = tuple(Rows(e, rows) for e in expectations.expectations)
        #: The expectations no span matched: it reads the first passes' spans too.
        self.unmatched = UnmatchedWatch(engine, expectations)
        self._parked = parked
        self._fast_span = fast_span
        self._submit = engine.submit
        #: Errors swallowed reading spans (each loses its span only).
        self.errors = 0

    def drain(self) -> None:
        """Match the parked spans, then feed every expectation's rows to the engine, a
        column per watched value: the engine calls this on its worker, holding its lock.

        Column by column, sliced out of the flat rows, the values cost a fraction
        of going span by span through ``submit`` and the queue (a tuple per span,
        then taken apart again into columns).
        """
        spans = self._take_parked()
        unmatched = self.unmatched
        if unmatched.active:  # the first passes only, until its decision
            unmatched.see(spans)
        self._write_rows(spans)
        for index, rows in enumerate(self.rows):
            if not rows.buffer:
                continue
            taken = rows.take()
            try:
                columns = rows.columns(taken)
            except Exception:
                # Something odd in one span: row by row, so only that one is lost.
                self._submit_rows(index, rows, taken)
                continue
            self.engine.feed_columns(index, rows.contexts(taken), columns)
        if unmatched.active:
            unmatched.check()

    def match_parked(self) -> None:
        """Match the parked spans, and queue their values and every row one by one
        through ``submit`` (which counts them as dropped once the engine is shut down)."""
        for span in self._take_parked():
            self.match(span)
        for index, rows in enumerate(self.rows):
            if rows.buffer:
                self._submit_rows(index, rows, rows.take())

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
                self._submit(index, context, self.rows[index].values_of(span, attributes))
        except Exception:
            self.count_error()

    def submit(self, index: int, span: ReadableSpan, attributes: Mapping[str, object]) -> None:
        """Queue one SDK span's values for expectation ``index`` (its buffer full)."""
        try:
            values = self.rows[index].values_of(span, attributes)
            self._submit(index, span._context, values)
        except Exception:
            self.count_error()

    def _write_rows(self, spans: Sequence[ReadableSpan]) -> None:
        """Match parked spans and write their rows, as ``on_end`` does; spans of other
        classes are queued one by one, through the public API."""
        matched = self._matched
        fast_span = self._fast_span
        rows = self.rows
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
                    if rows[index].write(span, attributes) < 0:
                        self.submit(index, span, attributes)
            except Exception:
                self.count_error()

    def _submit_rows(self, index: int, rows: Rows, taken: list[object]) -> None:
        for row, context in enumerate(rows.contexts(taken)):
            try:
                self._submit(index, context, rows.values(taken, row))
            except Exception:
                self.count_error()

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
                indices = candidates.direct.get(attributes.get(key), candidates.otherwise)
            except Exception:
                # Unhashable, or a hostile __hash__: equal to no scalar of the file.
                indices = candidates.otherwise
            if not indices:
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
            values = self.rows[index].values_of(span, attributes, public=True)
            self.engine.submit(index, span.context, values)

    def count_error(self) -> None:
        """Count (and log the first few of) the errors that lose a span."""
        self.errors += 1
        if self.errors <= 3 or self.errors % 10000 == 0:
            _logger.exception("otel-drift: error in on_end (#%d); span ignored", self.errors)
