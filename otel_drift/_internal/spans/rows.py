"""What a matched span leaves for the worker: a row of raw values in its expectation's buffer.

``DriftSpanProcessor.on_end`` decides on the request thread which expectations
a span feeds (``spans/matching.py``); for each, it appends one row to that
expectation's ``Rows`` buffer: the span's context, start and end times,
status code, then the attributes the expectation's watches read, each name
once, then its ``explain_by`` attributes not read already (``engine/segments.py``;
none with ``explain_by: []``, which leaves the row as it was), and, when it is
explained by ``feature_flag.result.variant``, the span's events if any (a reference:
the variant an OpenFeature hook put on a ``feature_flag.evaluation`` event is
looked for on the worker). The span itself is not kept: it is freed where the
SDK frees it.

One flat list per expectation, extended with one tuple per span: a single C
call, so a row is never split by another thread, and nothing made for the
span outlives the call but its place in the list. The worker takes the whole
rows there are (``take``) and slices them into columns (``columns``), one C
call per column; it computes durations and picks the first present of several
attribute names. Parking the span itself instead (kept alive until the worker
read and freed it, cold) cost ~1.9 µs a span there (benchmarks/span_e2e.py);
a row costs ~0.2 to 0.3 µs to write (a writer written out per row shape: up
to three attribute names, with or without the events) and ~0.1 µs to read
back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import compress
from operator import is_not, sub
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext

from otel_drift._internal.engine.segments import (
    FLAG_EVENT,
    FLAG_KEY,
    FLAG_VARIANT,
    segment_attributes,
)
from otel_drift._internal.expectations.model import Expectation

#: What each watched value reads (see ``Rows.specs``).
ATTRIBUTE, DURATION, STATUS = 0, 1, 2

#: A row's events slot holds the span's events, or None when it had none.
_PRESENT = partial(is_not, None)

#: Rows each expectation's buffer holds at least, however many expectations share
#: the parking's bound (see ``row_capacity``).
MIN_ROWS = 256

#: A row's fixed head: context, start time, end time, status code; attributes follow.
_CONTEXT, _START, _END, _STATUS = 0, 1, 2, 3
_HEAD = 4


def row_capacity(capacity: int, expectations: int) -> int:
    """Rows per expectation's buffer: the parking's ``capacity`` shared by the
    ``expectations`` spans may feed, but at least ``MIN_ROWS`` (at most ``capacity``).

    The buffers together then hold at most max(``capacity``, ``MIN_ROWS`` x
    ``expectations``) rows, of ~250 bytes each with the span context they keep:
    2 MB for the default 8,192, 64 MB for 1,000 expectations each at its bound
    (a worker that cannot keep up; past it, spans go to the engine's bounded queue).

    >>> row_capacity(8192, 1), row_capacity(8192, 8), row_capacity(8192, 1000), row_capacity(8, 3)
    (8192, 1024, 256, 8)
    """
    return min(capacity, max(MIN_ROWS, capacity // max(1, expectations)))


class Rows:
    """One expectation's buffer of rows, and how its watched values are read back."""

    def __init__(self, expectation: Expectation, capacity: int) -> None:
        keys: dict[str, int] = {}
        specs: list[tuple[int, tuple[int, ...]]] = []
        for watch in expectation.watch:
            kind = watch.source.kind
            if kind == "span.duration":
                specs.append((DURATION, ()))
            elif kind == "span.status":
                specs.append((STATUS, ()))
            else:
                # attribute and http.status_class both read the first present attribute
                # of their names; the engine derives the class.
                positions = (_HEAD + keys.setdefault(n, len(keys)) for n in watch.source.attributes)
                specs.append((ATTRIBUTE, tuple(positions)))
        explained = segment_attributes(expectation) if specs else ()
        #: Per segment attribute: its position in a row.
        self.segments = tuple(_HEAD + keys.setdefault(n, len(keys)) for n in explained)
        #: The attribute names a row holds, each once, in order.
        self.keys: tuple[str, ...] = tuple(keys)
        #: Per watched value: what it reads, and for an attribute its names' positions in a row.
        self.specs: tuple[tuple[int, tuple[int, ...]], ...] = tuple(specs)
        #: The position of the span's events in a row (explained by a flag variant), or 0.
        self.events = _HEAD + len(self.keys) if FLAG_VARIANT in explained else 0
        self._flag = explained.index(FLAG_VARIANT) if self.events else -1
        self.stride = _HEAD + len(self.keys) + (1 if self.events else 0)
        #: The rows, flat: ``stride`` items each. Appended to by request threads.
        self.buffer: list[object] = []
        #: Items at which the buffer is full, and at which the writer wakes the worker.
        self.limit = capacity * self.stride
        self.wake_at = max(1, capacity // 2) * self.stride
        self._a, self._b, self._c = (*self.keys, "", "", "")[:3]
        #: Appends an SDK span's row (private fields); returns the buffer's length
        #: before, or -1 when it is full and nothing was written.
        self.write: Callable[[ReadableSpan, Mapping[str, object]], int] = self._writer()

    def _writer(self) -> Callable[[ReadableSpan, Mapping[str, object]], int]:
        """``write`` for this row's shape, written out for the usual ones: the default
        ``explain_by`` (its flag variant and the span's events) with up to two watched
        attribute names, or ``explain_by: []`` with up to two (a ``*map`` over the
        names costs ~150 ns more a span: benchmarks/hot_path.py)."""
        written = (
            # The default explain_by: its flag variant is one of the keys, then the events.
            {1: self._write1e, 2: self._write2e, 3: self._write3e}
            if self.events
            else {0: self._write0, 1: self._write1, 2: self._write2}
        )
        return written.get(len(self.keys), self._write_any)

    def _write0(self, span: ReadableSpan, attributes: Mapping[str, object]) -> int:
        buffer = self.buffer
        before = len(buffer)
        if before >= self.limit:
            return -1
        buffer.extend(
            (
                span._context,
                span._start_time,
                span._end_time,
                span._status._status_code,
            )
        )
        return before

    def _write1(self, span: ReadableSpan, attributes: Mapping[str, object]) -> int:
        buffer = self.buffer
        before = len(buffer)
        if before >= self.limit:
            return -1
        get = attributes.get
        buffer.extend(
            (
                span._context,
                span._start_time,
                span._end_time,
                span._status._status_code,
                get(self._a),
            )
        )
        return before

    def _write2(self, span: ReadableSpan, attributes: Mapping[str, object]) -> int:
        buffer = self.buffer
        before = len(buffer)
        if before >= self.limit:
            return -1
        get = attributes.get
        buffer.extend(
            (
                span._context,
                span._start_time,
                span._end_time,
                span._status._status_code,
                get(self._a),
                get(self._b),
            )
        )
        return before

    # With the span's events, when it has any: only a reference (the SDK's deque of
    # them, whose truth test is C, not its BoundedList's, ~100 ns of Python); an empty
    # list kept alive until the worker frees it cost more there (~1 µs a span, GC).

    def _write1e(self, span: ReadableSpan, attributes: Mapping[str, object]) -> int:
        buffer = self.buffer
        before = len(buffer)
        if before >= self.limit:
            return -1
        get = attributes.get
        events = span._events
        if type(events) is BoundedList:
            events = events._dq  # type: ignore[attr-defined]
        buffer.extend(
            (
                span._context,
                span._start_time,
                span._end_time,
                span._status._status_code,
                get(self._a),
                events or None,
            )
        )
        return before

    def _write2e(self, span: ReadableSpan, attributes: Mapping[str, object]) -> int:
        buffer = self.buffer
        before = len(buffer)
        if before >= self.limit:
            return -1
        get = attributes.get
        events = span._events
        if type(events) is BoundedList:
            events = events._dq  # type: ignore[attr-defined]
        buffer.extend(
            (
                span._context,
                span._start_time,
                span._end_time,
                span._status._status_code,
                get(self._a),
                get(self._b),
                events or None,
            )
        )
        return before

    def _write3e(self, span: ReadableSpan, attributes: Mapping[str, object]) -> int:
        buffer = self.buffer
        before = len(buffer)
        if before >= self.limit:
            return -1
        get = attributes.get
        events = span._events
        if type(events) is BoundedList:
            events = events._dq  # type: ignore[attr-defined]
        buffer.extend(
            (
                span._context,
                span._start_time,
                span._end_time,
                span._status._status_code,
                get(self._a),
                get(self._b),
                get(self._c),
                events or None,
            )
        )
        return before

    def _write_any(self, span: ReadableSpan, attributes: Mapping[str, object]) -> int:
        buffer = self.buffer
        before = len(buffer)
        if before >= self.limit:
            return -1
        row: list[object] = [
            span._context,
            span._start_time,
            span._end_time,
            span._status._status_code,
        ]
        row.extend(map(attributes.get, self.keys))
        if self.events:
            events = span._events
            if type(events) is BoundedList:
                events = events._dq  # type: ignore[attr-defined]
            row.append(events or None)
        buffer.extend(row)
        return before

    def values_of(
        self, span: ReadableSpan, attributes: Mapping[str, object], *, public: bool = False
    ) -> tuple[object, ...]:
        """The watched values of one span, as ``engine.submit`` queues them: from an SDK
        span's private fields, or through the public API (``public``: any other span)."""
        if public:
            head = [span.context, span.start_time, span.end_time, span.status.status_code]
        else:
            head = [span._context, span._start_time, span._end_time, span._status._status_code]
        events = [(span.events if public else span._events) or None] if self.events else []
        return self.values([*head, *map(attributes.get, self.keys), *events], 0)

    def take(self) -> list[object]:
        """The whole rows written so far, removed from the buffer (on the worker).

        Writers may go on meanwhile: each row arrives whole (one ``extend``), and
        only the items taken are removed."""
        buffer = self.buffer
        taken = len(buffer)
        taken -= taken % self.stride  # never part of a row (they arrive whole anyway)
        rows = buffer[:taken]
        del buffer[:taken]
        return rows

    def contexts(self, rows: list[object]) -> list[SpanContext | None]:
        """The rows' span contexts, in order."""
        return rows[_CONTEXT :: self.stride]  # type: ignore[return-value]

    def columns(self, rows: list[object]) -> list[list[object]]:
        """A column per watched value, in the order of the watches, as the engine's
        sources define them raw; then one per segment attribute."""
        stride = self.stride
        columns = [_column(code, where, rows, stride) for code, where in self.specs]
        columns.extend(rows[position::stride] for position in self.segments)
        if self.events:
            flags = columns[len(self.specs) + self._flag]
            events: list[Any] = rows[self.events :: stride]
            for row in compress(range(len(events)), map(_PRESENT, events)):
                if flags[row] is None:
                    flags[row] = flag_variant(events[row])
        return columns

    def values(self, rows: list[object], row: int) -> tuple[object, ...]:
        """The values of row ``row`` alone, as ``engine.submit`` queues them."""
        start = row * self.stride
        one = rows[start : start + self.stride]
        return tuple(column[0] for column in self.columns(one))


def flag_variant(events: Sequence[Event]) -> str | None:
    """``key:variant`` of the first ``feature_flag.evaluation`` event with a variant.

    >>> from opentelemetry.sdk.trace import Event
    >>> flag_variant([Event("x"), Event(FLAG_EVENT, {FLAG_KEY: "checkout", FLAG_VARIANT: "on"})])
    'checkout:on'
    """
    for event in events:
        if event.name == FLAG_EVENT:
            attributes = event.attributes or {}
            variant = attributes.get(FLAG_VARIANT)
            if variant is not None:
                return f"{attributes.get(FLAG_KEY, '')}:{variant}"
    return None


def _column(code: int, where: tuple[int, ...], rows: list[object], stride: int) -> list[object]:
    if code == ATTRIBUTE:
        if len(where) == 1:
            return rows[where[0] :: stride]
        if len(where) == 2:  # the usual pair: the stable name, then the old one
            return [
                first if first is not None else second
                for first, second in zip(
                    rows[where[0] :: stride], rows[where[1] :: stride], strict=True
                )
            ]
        columns = [rows[p::stride] for p in where]
        return [
            next((v for v in each if v is not None), None) for each in zip(*columns, strict=True)
        ]
    if code == DURATION:
        ends: Any = rows[_END::stride]
        starts: Any = rows[_START::stride]
        try:
            return list(map(sub, ends, starts))  # in C: ~15 ns a row, against ~60
        except TypeError:
            pass  # a time missing (None): row by row
        return [
            end - start if end is not None and start is not None else None
            for end, start in zip(ends, starts, strict=True)
        ]
    return rows[_STATUS::stride]
