"""The drift engine: a bounded queue in front of a background worker.

Request threads only ever call :meth:`DriftEngine.submit` (a length check and
a deque append: no lock, no numpy, never blocks). The worker wakes every
flush interval, drains the queue, turns the values into numpy columns, feeds
the sketches, closes windows and runs the detectors. What it finds goes to
listeners (signals, console, actions) outside the request path.

Counting contract: every value handed to the engine ends up exactly once as
valid, missing or invalid (per watched value), or its whole span is dropped
(per expectation) when the queue is full.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from opentelemetry.trace import SpanContext, StatusCode

from otel_drift._internal.constraints import Violations, check_labels, check_numeric
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile, Watch, Window
from otel_drift._internal.settings import Settings
from otel_drift._internal.shape_watch import merge as merge_violations
from otel_drift._internal.shape_watch import shape_labels
from otel_drift._internal.values import (
    NumericColumn,
    category_column,
    numeric_column,
    status_class,
)
from otel_drift._internal.watch_state import WatchEvaluation, WatchState

_logger = logging.getLogger(__name__)

#: Rows kept per violation rule and batch for pointing at offending spans.
VIOLATION_POSITIONS_PER_BATCH = 32
#: Rows of vectorized batches that may wait in the queue at once.
MAX_QUEUED_BATCH_ROWS = 1_000_000

_DURATION_DIVISORS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
_STATUS_LABELS = {
    StatusCode.UNSET: "UNSET",
    StatusCode.OK: "OK",
    StatusCode.ERROR: "ERROR",
}


@dataclass(frozen=True)
class WindowEvaluation:
    """One closed window of one expectation."""

    expectation: str
    start_time_ns: int
    end_time_ns: int
    spans: int
    watches: tuple[WatchEvaluation, ...]
    #: True when closed by shutdown/force_flush before the window was full.
    partial: bool

    @property
    def status(self) -> int:
        return max((w.status for w in self.watches), default=0)


@dataclass(frozen=True)
class Violation:
    """One value that broke a hard constraint, with the span it came from."""

    expectation: str
    watch: str
    rule: str
    value: object
    span_context: SpanContext | None


Listener = Callable[[WindowEvaluation], None]
ViolationListener = Callable[[Sequence[Violation]], None]
ValueListener = Callable[[WatchState, "np.ndarray[Any, np.dtype[np.float64]]"], None]


class _Batch:
    """Whole columns handed over by code (an ML batch), keyed by watch index."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: dict[int, np.ndarray[Any, Any] | list[object]], rows: int) -> None:
        self.columns = columns
        self.rows = rows


class _ExpectationState:
    def __init__(self, expectation: Expectation, max_categories: int) -> None:
        self.expectation = expectation
        self.watches = tuple(WatchState(expectation, w, max_categories) for w in expectation.watch)
        self.spans = 0
        self.start_ns = time.time_ns()
        self.start_monotonic = time.monotonic()
        self.evaluations = 0

    def room(self) -> int:
        spans = self.expectation.window.spans
        return spans - self.spans if spans is not None else 1 << 62

    def time_due(self, now: float) -> bool:
        seconds = self.expectation.window.seconds
        return (
            seconds is not None
            and now - self.start_monotonic >= seconds
            and self.spans >= self.expectation.min_samples
        )


class DriftEngine:
    """Sketches, windows and detectors for one expectations file, fed off-thread."""

    def __init__(self, expectations: ExpectationsFile, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.expectations = _with_default_windows(expectations, self.settings)
        self.index: Mapping[str, int] = {e.name: i for i, e in enumerate(expectations.expectations)}
        self._capacity = self.settings.queue_size
        self._high_water = max(1, self._capacity // 2)
        self._interval = self.settings.flush_interval_s
        self._listeners: list[Listener] = []
        self._violation_listeners: list[ViolationListener] = []
        self._value_listeners: list[ValueListener] = []
        self.history: deque[WindowEvaluation] = deque(maxlen=1000)
        self._init_process_state()
        weak = weakref.ref(self)

        def after_fork() -> None:
            engine = weak()
            if engine is not None:
                engine._after_fork()

        os.register_at_fork(after_in_child=after_fork)
        self._start_worker()

    # -- process-local state (rebuilt in a forked child) ---------------------

    def _init_process_state(self) -> None:
        self._queue: deque[tuple[int, SpanContext | None, Any]] = deque()
        self._lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._closed = False
        self._queued_batch_rows = 0
        self.dropped: Counter[int] = Counter()
        self.errors = 0
        self._states = [
            _ExpectationState(e, self.settings.max_categories)
            for e in self.expectations.expectations
        ]

    def _after_fork(self) -> None:
        # The parent's worker thread does not exist here, its locks may be
        # held, and its counts were (or will be) reported by the parent.
        self._init_process_state()
        self.history.clear()
        self._start_worker()

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._run, name="otel-drift-worker", daemon=True)
        self._worker.start()

    # -- listeners -----------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` (on the worker thread) with every closed window."""
        self._listeners.append(listener)

    def add_value_listener(self, listener: ValueListener) -> None:
        """Call ``listener`` (on the worker) with each batch of valid numeric values."""
        self._value_listeners.append(listener)

    def _add_numbers(self, watch_state: WatchState, numbers: NumericColumn) -> None:
        watch_state.add_numbers(numbers.values, numbers.missing, numbers.invalid)
        for listener in self._value_listeners:
            try:
                listener(watch_state, numbers.values)
            except Exception:
                self._count_error("value listener")

    def add_violation_listener(self, listener: ViolationListener) -> None:
        self._violation_listeners.append(listener)

    # -- hot path ------------------------------------------------------------

    def submit(
        self, index: int, span_context: SpanContext | None, values: tuple[object, ...]
    ) -> None:
        """Queue one matched span's raw values. O(1), lock-free unless the queue is full."""
        queue = self._queue
        size = len(queue)
        if size < self._capacity:
            queue.append((index, span_context, values))
            if size == self._high_water:
                self._wake.set()
        else:
            with self._drop_lock:
                self.dropped[index] += 1

    def observe(
        self,
        expectation: str,
        columns: Mapping[str, ArrayLike | Sequence[object]],
        *,
        rows: int | None = None,
    ) -> bool:
        """Hand whole columns to an expectation's watched values, without per-row Python.

        ``columns`` maps a watched value's name (or its source attribute name)
        to an array-like of one value per row; a watched value with no column
        counts every row as missing. Returns False (and counts the rows as
        dropped) when the queue is full or the expectation is unknown.
        Never raises.
        """
        try:
            index = self.index.get(expectation)
            if index is None:
                _logger.debug("otel-drift: observe() for unknown expectation %r", expectation)
                return False
            state = self._states[index]
            batch_columns: dict[int, np.ndarray[Any, Any] | list[object]] = {}
            n = rows
            for position, watch in enumerate(state.expectation.watch):
                column = _find_column(watch, columns)
                if column is None:
                    continue
                array = _copy_column(column)
                length = len(array)
                if n is None:
                    n = length
                elif length != n:
                    _logger.warning(
                        "otel-drift: observe(%r): column %r has %d rows, not %d; batch dropped",
                        expectation,
                        watch.name,
                        length,
                        n,
                    )
                    return False
                batch_columns[position] = array
            if n is None or n == 0:
                return True
            with self._drop_lock:
                if (
                    len(self._queue) >= self._capacity
                    or self._queued_batch_rows + n > MAX_QUEUED_BATCH_ROWS
                ):
                    self.dropped[index] += n
                    return False
                self._queued_batch_rows += n
            self._queue.append((index, None, _Batch(batch_columns, n)))
            self._wake.set()
            return True
        except Exception:
            self._count_error("observe")
            return False

    # -- worker --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopped:
                break
            # A flush may hold the lock; the next tick will catch up.
            if self._lock.acquire(timeout=self._interval):
                try:
                    with _quiet_numpy():
                        self._process(len(self._queue))
                        self._close_due_time_windows()
                finally:
                    self._lock.release()

    def _count_error(self, where: str) -> None:
        self.errors += 1
        # Log the first few in full, then every 1000th, so a persistent bug
        # cannot flood the host's logs.
        if self.errors <= 3 or self.errors % 1000 == 0:
            _logger.exception("otel-drift: internal error in %s (#%d)", where, self.errors)

    def _process(self, count: int) -> None:
        """Drain ``count`` queued items (only those there now: producers may go on)."""
        if count <= 0:
            return
        grouped: dict[int, list[tuple[int, SpanContext | None, Any]]] = {}
        popleft = self._queue.popleft
        for _ in range(count):
            try:
                item = popleft()
            except IndexError:
                break
            grouped.setdefault(item[0], []).append(item)
        for index, items in grouped.items():
            try:
                self._feed(self._states[index], items)
            except Exception:
                self._count_error("worker")

    def _feed(
        self, state: _ExpectationState, items: list[tuple[int, SpanContext | None, Any]]
    ) -> None:
        rows: list[tuple[int, SpanContext | None, Any]] = []
        for item in items:
            payload = item[2]
            if isinstance(payload, _Batch):
                self._feed_rows(state, rows)
                rows = []
                with self._drop_lock:
                    self._queued_batch_rows -= payload.rows
                self._feed_batch(state, payload)
            else:
                rows.append(item)
        self._feed_rows(state, rows)

    def _feed_rows(
        self, state: _ExpectationState, rows: list[tuple[int, SpanContext | None, Any]]
    ) -> None:
        start = 0
        while start < len(rows):
            chunk = rows[start : start + state.room()]
            start += len(chunk)
            contexts = [row[1] for row in chunk]
            for position, watch_state in enumerate(state.watches):
                raw = [row[2][position] for row in chunk]
                self._apply(state, watch_state, raw, contexts)
            self._advance(state, len(chunk))

    def _feed_batch(self, state: _ExpectationState, batch: _Batch) -> None:
        start = 0
        while start < batch.rows:
            take = min(state.room(), batch.rows - start)
            for position, watch_state in enumerate(state.watches):
                column = batch.columns.get(position)
                if column is None:
                    # No column for this watched value: every row is missing it.
                    watch_state.add_labels([], take, 0)
                    continue
                self._apply(state, watch_state, column[start : start + take], None)
            start += take
            self._advance(state, take)

    def _advance(self, state: _ExpectationState, rows: int) -> None:
        state.spans += rows
        full = state.room() <= 0
        alarm = any(w.cusum_alarm() for w in state.watches)
        if full or alarm:
            self._close(state, partial=False)

    def _apply(
        self,
        state: _ExpectationState,
        watch_state: WatchState,
        raw: Sequence[object] | np.ndarray[Any, Any],
        contexts: list[SpanContext | None] | None,
    ) -> None:
        watch = watch_state.watch
        kind = watch.source.kind
        violations: Violations
        if isinstance(raw, np.ndarray) and raw.dtype.kind in "fiu" and watch.kind == "numeric":
            # Vectorized batch of plain numbers: no per-row conversion at all.
            numbers = NumericColumn(raw.astype(np.float64, copy=False), None, 0, 0)
            # A numeric array holds numbers only: the type rule has nothing to see.
            violations = check_numeric(
                watch.constraints, (), numbers, VIOLATION_POSITIONS_PER_BATCH
            )
            self._add_numbers(watch_state, numbers)
            self._record_violations(state, watch_state, violations, numbers.values, contexts)
            return
        raw_seq: Sequence[object] = raw.tolist() if isinstance(raw, np.ndarray) else raw
        if kind == "span.duration":
            divisor = _DURATION_DIVISORS[watch.source.unit]
            raw_seq = [None if v is None else v / divisor for v in raw_seq]  # type: ignore[operator]
        elif kind == "span.status":
            raw_seq = [_STATUS_LABELS.get(v, v) for v in raw_seq]  # type: ignore[call-overload]
        elif kind == "http.status_class":
            raw_seq = [status_class(v) for v in raw_seq]
        elif kind == "json.shape":
            # Shape ids -> "expected" or the id, plus shape.* violations (shape_watch.py).
            raw_seq, shape_violations = shape_labels(watch, raw_seq, VIOLATION_POSITIONS_PER_BATCH)
        if watch.kind == "numeric":
            numbers = numeric_column(raw_seq)
            violations = check_numeric(
                watch.constraints, raw_seq, numbers, VIOLATION_POSITIONS_PER_BATCH
            )
            self._add_numbers(watch_state, numbers)
        else:
            labels = category_column(raw_seq)
            violations = check_labels(
                watch.constraints, raw_seq, labels, VIOLATION_POSITIONS_PER_BATCH
            )
            if kind == "json.shape":
                violations = merge_violations(violations, shape_violations)
            watch_state.add_labels(labels.values, labels.missing, labels.invalid)
        self._record_violations(state, watch_state, violations, raw_seq, contexts)

    def _record_violations(
        self,
        state: _ExpectationState,
        watch_state: WatchState,
        violations: Violations,
        raw: Sequence[object] | np.ndarray[Any, Any],
        contexts: list[SpanContext | None] | None,
    ) -> None:
        if not violations:
            return
        watch_state.violations.update(violations.counts)
        if not self._violation_listeners:
            return
        found = [
            Violation(
                expectation=state.expectation.name,
                watch=watch_state.watch.name,
                rule=rule,
                value=_item(raw, position),
                span_context=contexts[position] if contexts is not None else None,
            )
            for rule, positions in violations.positions.items()
            for position in positions
        ]
        for listener in self._violation_listeners:
            try:
                listener(found)
            except Exception:
                self._count_error("violation listener")

    def _close(self, state: _ExpectationState, *, partial: bool) -> None:
        now_ns = time.time_ns()
        evaluations = tuple(w.close_window() for w in state.watches)
        window = WindowEvaluation(
            expectation=state.expectation.name,
            start_time_ns=state.start_ns,
            end_time_ns=max(now_ns, state.start_ns),
            spans=state.spans,
            watches=evaluations,
            partial=partial,
        )
        state.spans = 0
        state.start_ns = now_ns
        state.start_monotonic = time.monotonic()
        state.evaluations += 1
        self.history.append(window)
        for listener in self._listeners:
            try:
                listener(window)
            except Exception:
                self._count_error("listener")

    def _close_due_time_windows(self) -> None:
        now = time.monotonic()
        for state in self._states:
            if state.time_due(now):
                self._close(state, partial=False)

    # -- flush and shutdown ----------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Process what is queued now and evaluate the partial windows.

        A partial window with fewer than ``min_samples`` spans is left open:
        a caller that flushes after every request (a serverless handler)
        would otherwise close windows of one span that can never be judged.
        """
        return self._flush(timeout_millis, final=False)

    def _flush(self, timeout_millis: int, *, final: bool) -> bool:
        if not self._lock.acquire(timeout=max(timeout_millis, 0) / 1000.0):
            return False
        try:
            with _quiet_numpy():
                self._process(len(self._queue))
                for state in self._states:
                    enough = state.spans >= state.expectation.min_samples
                    if state.spans > 0 and (final or enough):
                        self._close(state, partial=True)
            return True
        except Exception:
            self._count_error("flush")
            return False
        finally:
            self._lock.release()

    def shutdown(self, timeout_millis: int = 30000) -> None:
        """Stop the worker, then evaluate the last partial windows. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopped = True
        self._wake.set()
        if self._worker.is_alive() and self._worker is not threading.current_thread():
            self._worker.join(timeout=max(timeout_millis, 0) / 1000.0)
        # From here on nothing reads the queue: spans that still end (the SDK keeps
        # calling on_end after shutdown) are dropped and counted, not parked in it.
        self._capacity = 0
        self._flush(timeout_millis, final=True)
        self._drop_queued()

    def _drop_queued(self) -> None:
        """Count what was queued too late for the last flush as dropped."""
        while True:
            try:
                index, _context, payload = self._queue.popleft()
            except IndexError:
                return
            rows = payload.rows if isinstance(payload, _Batch) else 1
            with self._drop_lock:
                self.dropped[index] += rows
                if isinstance(payload, _Batch):
                    self._queued_batch_rows -= rows

    # -- reading (metrics callbacks, tests) ------------------------------------

    def watch_states(self) -> Iterable[WatchState]:
        for state in self._states:
            yield from state.watches

    def snapshot(self, timeout_s: float = 1.0) -> list[WatchState] | None:
        """The watch states, read under the worker's lock (None on timeout)."""
        if not self._lock.acquire(timeout=timeout_s):
            return None
        try:
            return list(self.watch_states())
        finally:
            self._lock.release()

    def status(self, expectation: str, watch: str) -> int:
        for watch_state in self._states[self.index[expectation]].watches:
            if watch_state.watch.name == watch:
                return watch_state.status
        raise KeyError(f"{expectation}.{watch}")

    def dropped_by_expectation(self) -> dict[str, int]:
        with self._drop_lock:
            counts = dict(self.dropped)
        return {
            self.expectations.expectations[index].name: count for index, count in counts.items()
        }


def _quiet_numpy() -> np.errstate:
    """No floating-point warnings from the host's values (1e308 squared, inf - inf).

    Under ``-W error`` or ``PYTHONWARNINGS=error`` (common in a host's test suite)
    a warning is an exception, and one would lose a whole batch of values. numpy's
    error state is per thread (a context variable), so the host's own is untouched.
    """
    return np.errstate(all="ignore")


def _with_default_windows(expectations: ExpectationsFile, settings: Settings) -> ExpectationsFile:
    """Give expectations that declare no window the ``OTEL_DRIFT_WINDOW`` default."""
    window = Window(spans=settings.default_window.spans, seconds=settings.default_window.seconds)
    return replace(
        expectations,
        expectations=tuple(
            e if e.window_declared else replace(e, window=window) for e in expectations.expectations
        ),
    )


def _find_column(
    watch: Watch, columns: Mapping[str, ArrayLike | Sequence[object]]
) -> ArrayLike | Sequence[object] | None:
    column = columns.get(watch.name)
    if column is not None:
        return column
    for name in watch.source.attributes:
        column = columns.get(name)
        if column is not None:
            return column
    return None


def _copy_column(column: ArrayLike | Sequence[object]) -> np.ndarray[Any, Any] | list[object]:
    # Copied: the caller may reuse its buffer before the worker gets to it.
    if isinstance(column, np.ndarray):
        return column.reshape(-1).copy() if column.dtype.kind in "fiub" else column.tolist()
    array = np.asarray(column)
    if array.dtype.kind in "fiu":
        return array.reshape(-1).astype(np.float64)
    return list(column) if isinstance(column, Sequence) else array.reshape(-1).tolist()


def _item(raw: Sequence[object] | np.ndarray[Any, Any], position: int) -> object:
    try:
        value = raw[position]
    except IndexError:
        return None
    return value.item() if isinstance(value, np.generic) else value
