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
import random
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

from otel_drift._internal.engine.constraints import Violations, check_labels, check_numeric
from otel_drift._internal.engine.shape_watch import merge as merge_violations
from otel_drift._internal.engine.shape_watch import shape_labels
from otel_drift._internal.engine.watch_state import WatchEvaluation, WatchState
from otel_drift._internal.engine.window_scores import WindowScorer
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile, Watch, Window
from otel_drift._internal.settings import Settings
from otel_drift._internal.sketches import HistogramBank
from otel_drift._internal.values import (
    NumericColumn,
    category_column,
    numeric_column,
    status_class,
)

_logger = logging.getLogger(__name__)

#: Rows kept per violation rule and batch for pointing at offending spans.
VIOLATION_POSITIONS_PER_BATCH = 32
#: Rows of vectorized batches that may wait in the queue at once.
MAX_QUEUED_BATCH_ROWS = 1_000_000
#: Queued batch rows at which the worker is woken before its flush interval.
#: Waking it for every batch would have it take the GIL whenever the caller's
#: next numpy call releases it: the caller then waits on the worker.
WAKE_AT_BATCH_ROWS = 32_768
#: Queued observe_matrix values (2 MB) at which the worker is woken: it hands
#: the buffers back while they are still in cache, where the caller's next
#: copies into them cost half what copies into memory long untouched do.
WAKE_AT_MATRIX_VALUES = 1 << 18
#: Consecutive batches are concatenated and fed as one up to this many rows:
#: enough to amortize the per-batch cost of small ones, while larger ones go
#: as they are (concatenating them would only add a copy).
MAX_COALESCED_ROWS = 1024
#: Float64 values (32 MB) the free lists of observe_matrix buffers may hold.
MAX_POOLED_VALUES = 1 << 22
#: Smaller copies (under 32 KB) are not pooled: malloc reuses them without faults.
MIN_POOLED_VALUES = 1 << 12
#: Distinct observe_matrix layouts remembered per expectation.
MAX_MATRIX_LAYOUTS = 64

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
    """Whole columns handed over by code (an ML batch), keyed by watch index.

    ``matrix`` (float64, rows x k, C order) holds the numeric columns of the
    watched values in ``matrix_positions``, one matrix column each.
    """

    __slots__ = ("columns", "matrix", "matrix_positions", "rows")

    def __init__(
        self,
        columns: dict[int, np.ndarray[Any, Any] | list[object]],
        rows: int,
        matrix: np.ndarray[Any, np.dtype[np.float64]] | None = None,
        matrix_positions: tuple[int, ...] = (),
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.matrix = matrix
        self.matrix_positions = matrix_positions

    @property
    def values(self) -> int:
        """Values in ``matrix`` (what its buffer holds)."""
        return 0 if self.matrix is None else self.matrix.size

    def layout(self) -> tuple[object, ...]:
        """Batches with equal layouts can be concatenated row-wise."""
        return (
            self.matrix_positions,
            tuple(
                (position, column.dtype.kind if isinstance(column, np.ndarray) else "list")
                for position, column in self.columns.items()
            ),
        )

    @staticmethod
    def concatenate(batches: Sequence[_Batch]) -> _Batch:
        """One batch holding ``batches``' rows in order (all of one layout)."""
        first = batches[0]
        if len(batches) == 1:
            return first
        columns: dict[int, np.ndarray[Any, Any] | list[object]] = {}
        for position, column in first.columns.items():
            parts = [batch.columns[position] for batch in batches]
            if isinstance(column, np.ndarray):
                columns[position] = np.concatenate(parts)  # type: ignore[arg-type]
            else:
                columns[position] = [value for part in parts for value in part]
        matrix = None
        if first.matrix is not None:
            matrix = np.concatenate([batch.matrix for batch in batches])
        rows = sum(batch.rows for batch in batches)
        return _Batch(columns, rows, matrix, first.matrix_positions)


class _MatrixBuffers:
    """Float64 buffers that observe_matrix copies into, handed back by the worker.

    A fresh array of a few hundred KB is new memory (malloc maps it): writing
    it costs a page fault per 4 KB, about 100-200 µs for a 1024 x 30 batch
    here, ten times the copy itself. Reused buffers keep the caller's cost at
    the copy. Only such large buffers are kept (smaller ones come from malloc's
    heap, reused without faults), in power-of-two size classes, and what the
    free lists hold is bounded (``MAX_POOLED_VALUES``).
    """

    def __init__(self) -> None:
        self._free: dict[int, list[np.ndarray[Any, np.dtype[np.float64]]]] = {}
        self._pooled = 0
        self._lock = threading.Lock()

    def take(self, rows: int, width: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        size = rows * width
        if size < MIN_POOLED_VALUES:
            return np.empty((rows, width), dtype=np.float64)
        size_class = 1 << (size - 1).bit_length()
        buffer = None
        with self._lock:
            free = self._free.get(size_class)
            if free:
                buffer = free.pop()
                self._pooled -= size_class
        if buffer is None:
            buffer = np.empty(size_class, dtype=np.float64)
        return buffer[:size].reshape(rows, width)

    def give(self, matrix: np.ndarray[Any, np.dtype[np.float64]]) -> None:
        buffer = matrix.base
        if not isinstance(buffer, np.ndarray) or buffer.base is not None:
            return  # not one of ours (a small batch, a concatenation)
        with self._lock:
            if self._pooled + buffer.size <= MAX_POOLED_VALUES:
                self._free.setdefault(buffer.size, []).append(buffer)
                self._pooled += buffer.size


class _MatrixPlan:
    """How one expectation's watched values read a matrix batch of one layout.

    The numeric, binned watched values with nothing else to do per value (no
    constraints, no CUSUM, no value listeners) are counted together by a
    :class:`HistogramBank`; the others get their matrix column one by one.
    """

    def __init__(
        self, watches: Sequence[WatchState], positions: tuple[int, ...], listeners: bool
    ) -> None:
        banked: list[int] = []
        self.banked_positions: list[int] = []
        self.single: list[tuple[int, int]] = []  # (watch position, matrix column)
        for column, position in enumerate(positions):
            watch_state = watches[position]
            watch = watch_state.watch
            if (
                not listeners
                and watch.kind == "numeric"
                and watch_state.histogram is not None
                and watch_state.cusum is None
                and watch.constraints.empty
            ):
                banked.append(column)
                self.banked_positions.append(position)
            else:
                self.single.append((position, column))
        width = len(positions)
        # All columns banked in order: the block is used as it is, no gather.
        self.banked_columns: list[int] | None = None if banked == list(range(width)) else banked
        self.bank = (
            HistogramBank([watches[p].histogram for p in self.banked_positions])  # type: ignore[misc]
            if banked
            else None
        )


class _MatrixLayout:
    """Where one observe_matrix mapping puts an expectation's watched values.

    ``positions`` is None for a mapping that points outside the matrix.
    """

    __slots__ = ("columns", "extra", "mapping", "positions", "whole", "width")

    def __init__(
        self,
        mapping: Mapping[str, int],
        width: int,
        positions: tuple[int, ...] | None,
        columns: list[int],
    ) -> None:
        #: A copy of the caller's mapping: a mapping changed in place no longer equals it.
        self.mapping = dict(mapping)
        self.width = width
        self.positions = positions
        self.columns = columns
        #: Every matrix column, in order: the copy needs no gather.
        self.whole = columns == list(range(width))
        #: observe_matrix's ``columns`` keys -> (watch position, key) it reads.
        self.extra: dict[tuple[str, ...], list[tuple[int, str]]] = {}


class _ExpectationState:
    def __init__(self, expectation: Expectation, max_categories: int) -> None:
        self.expectation = expectation
        self.watches = tuple(WatchState(expectation, w, max_categories) for w in expectation.watch)
        self.scorer = WindowScorer(self.watches)
        #: Matrix plans by (matrix positions, value listeners present); few layouts per model.
        self.matrix_plans: dict[tuple[tuple[int, ...], bool], _MatrixPlan] = {}
        #: observe_matrix layouts by the id of the caller's mapping (checked by
        #: equality on use), then by (width, mapping items).
        self.layouts_by_id: dict[int, _MatrixLayout] = {}
        self.matrix_layouts: dict[tuple[object, ...], _MatrixLayout] = {}
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
        self._sources: list[Callable[[], None]] = []
        self.history: deque[WindowEvaluation] = deque(maxlen=1000)
        self._init_process_state()
        weak = weakref.ref(self)

        def after_fork() -> None:
            engine = weak()
            if engine is not None:
                engine._after_fork()

        os.register_at_fork(after_in_child=after_fork)

    # -- process-local state (rebuilt in a forked child) ---------------------

    def _init_process_state(self) -> None:
        self._queue: deque[tuple[int, SpanContext | None, Any]] = deque()
        self._lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._wake = threading.Event()
        #: Started with the first input (start_worker): a process that never ends a
        #: span (a pre-fork master, multiprocessing's resource tracker) runs no thread
        #: that wakes at every flush interval for nothing.
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False
        self._closed = False
        self._queued_batch_rows = 0
        self._queued_matrix_values = 0
        self._buffers = _MatrixBuffers()
        self.dropped: Counter[int] = Counter()
        #: Rows of large batches left out of the sample observed (max_batch_rows).
        self.sampled_out: Counter[int] = Counter()
        self._random = random.Random()
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

    def start_worker(self) -> None:
        """Start the worker thread if it is not running yet (producers call it on input)."""
        if self._worker is not None or self._closed:
            return
        with self._start_lock:
            if self._worker is None and not self._closed:
                worker = threading.Thread(target=self._run, name="otel-drift-worker", daemon=True)
                worker.start()
                self._worker = worker

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

    def add_source(self, source: Callable[[], None]) -> None:
        """Call ``source`` (on the worker, and in every flush, with the engine's lock
        held) before each pass over the queue: a producer that parks its raw input
        feeds it there (``feed_columns``), or queues it (``submit``)."""
        self._sources.append(source)

    def wake(self) -> None:
        """Have the worker run now rather than at its next flush interval."""
        if not self._wake.is_set():  # Event.set takes a lock and notifies: once
            self._wake.set()
        if self._worker is None:
            self.start_worker()

    def _drain_sources(self) -> None:
        for source in self._sources:
            try:
                source()
            except Exception:
                self._count_error("source")

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
            elif not size and self._worker is None:
                self.start_worker()
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
            sample = self._sample(index, n)
            if sample is not None:
                batch_columns = {p: column[sample] for p, column in batch_columns.items()}
                n = len(range(n)[sample])
            return self._enqueue(index, _Batch(batch_columns, n))
        except Exception:
            self._count_error("observe")
            return False

    def _sample(self, index: int, rows: int) -> slice | None:
        """The rows of a batch of ``rows`` that are observed (None: all of them).

        Evenly spaced from a random start, at most ``max_batch_rows``: what a
        batch costs stays bounded, and a batch sorted or grouped by some key
        is still seen across its whole length. The rest are counted.
        """
        cap = self.settings.max_batch_rows
        if cap == 0 or rows <= cap:
            return None
        step = -(-rows // cap)
        start = int(self._random.random() * step)  # randrange costs 5x more
        with self._drop_lock:
            self.sampled_out[index] += rows - (rows - start + step - 1) // step
        return slice(start, None, step)

    def observe_matrix(
        self,
        expectation: str,
        matrix: ArrayLike,
        columns_of: Mapping[str, int],
        *,
        columns: Mapping[str, ArrayLike | Sequence[object]] | None = None,
    ) -> bool:
        """Hand a numeric ``(rows, features)`` matrix to an expectation's watched values.

        ``columns_of`` maps a watched value's name (or its source attribute
        name) to the matrix column holding it; ``columns`` adds 1-D columns
        as :meth:`observe` takes them (a prediction, say). The matrix is
        copied once, whole, and binned by the worker in one pass: the
        cheapest way in for a model's feature matrix. Returns False (and
        counts the rows as dropped) when the queue is full or the expectation
        is unknown. Never raises.
        """
        try:
            index = self.index.get(expectation)
            if index is None:
                _logger.debug("otel-drift: observe() for unknown expectation %r", expectation)
                return False
            array = np.asarray(matrix)
            if array.ndim != 2 or array.dtype.kind not in "fiub":
                _logger.warning(
                    "otel-drift: observe_matrix(%r) takes a 2-D numeric matrix, got shape %s "
                    "of dtype %s; batch dropped (use observe() with one column per value)",
                    expectation,
                    array.shape,
                    array.dtype,
                )
                return False
            state = self._states[index]
            width = array.shape[1]
            layout = state.layouts_by_id.get(id(columns_of))
            if layout is None or layout.width != width or layout.mapping != columns_of:
                layout = self._matrix_layout(state, width, columns_of)
            positions = layout.positions
            if positions is None:
                return False
            rows = array.shape[0]
            if rows == 0:
                return True
            batch_columns: dict[int, np.ndarray[Any, Any] | list[object]] = {}
            if columns:
                for position, key in self._extra_columns(state, layout, columns):
                    column = columns[key]
                    if column is None:
                        continue  # this batch has none: every row is missing it
                    copied = _copy_column(column)
                    if len(copied) != rows:
                        _logger.warning(
                            "otel-drift: observe_matrix(%r): column %r has %d rows, not %d; "
                            "batch dropped",
                            expectation,
                            key,
                            len(copied),
                            rows,
                        )
                        return False
                    batch_columns[position] = copied
            sample = self._sample(index, rows)
            if sample is not None:
                array = array[sample]  # a view: only the sampled rows are copied below
                batch_columns = {p: column[sample] for p, column in batch_columns.items()}
                rows = array.shape[0]
            # Copied (the caller may reuse its array), once, whole, into a reused buffer
            # (item assignment: np.copyto's argument handling costs 4x more on small ones).
            data = self._buffers.take(rows, len(positions))
            data[...] = array if layout.whole else array[:, layout.columns]
            return self._enqueue(index, _Batch(batch_columns, rows, data, positions))
        except Exception:
            self._count_error("observe_matrix")
            return False

    @staticmethod
    def _extra_columns(
        state: _ExpectationState,
        layout: _MatrixLayout,
        columns: Mapping[str, ArrayLike | Sequence[object]],
    ) -> list[tuple[int, str]]:
        """(watch position, key in ``columns``) of the watched values ``columns``
        gives that the matrix does not, remembered per set of keys."""
        keys = tuple(columns)
        found = layout.extra.get(keys)
        if found is None:
            taken = set(layout.positions or ())
            found = []
            for position, watch in enumerate(state.expectation.watch):
                if position not in taken:
                    key = _find_key(watch, columns)
                    if key is not None:
                        found.append((position, key))
            if len(layout.extra) >= MAX_MATRIX_LAYOUTS:
                layout.extra.clear()
            layout.extra[keys] = found
        return found

    def _matrix_layout(
        self, state: _ExpectationState, width: int, columns_of: Mapping[str, int]
    ) -> _MatrixLayout:
        """The layout of ``columns_of``, remembered per distinct mapping (and per
        mapping object, which a caller that keeps its mapping finds at once).

        Its ``positions`` are None when the mapping points outside the matrix
        (warned once per distinct mapping).
        """
        key = (width, tuple(columns_of.items()))
        layout = state.matrix_layouts.get(key)
        if layout is None:
            layout = self._new_layout(state, width, columns_of)
            if len(state.matrix_layouts) >= MAX_MATRIX_LAYOUTS:
                state.matrix_layouts.clear()
            state.matrix_layouts[key] = layout
        if len(state.layouts_by_id) >= MAX_MATRIX_LAYOUTS:
            state.layouts_by_id.clear()
        state.layouts_by_id[id(columns_of)] = layout
        return layout

    def _new_layout(
        self, state: _ExpectationState, width: int, columns_of: Mapping[str, int]
    ) -> _MatrixLayout:
        positions: list[int] = []
        matrix_columns: list[int] = []
        for position, watch in enumerate(state.expectation.watch):
            column = _find_column(watch, columns_of)
            if column is None:
                continue
            if not isinstance(column, int) or not 0 <= column < width:
                _logger.warning(
                    "otel-drift: observe_matrix(%r): column %r for %r is not an index into "
                    "a matrix of %d columns; its batches are dropped (fix the columns_of mapping)",
                    state.expectation.name,
                    column,
                    watch.name,
                    width,
                )
                break
            positions.append(position)
            matrix_columns.append(column)
        else:
            return _MatrixLayout(columns_of, width, tuple(positions), matrix_columns)
        return _MatrixLayout(columns_of, width, None, [])

    def _enqueue(self, index: int, batch: _Batch) -> bool:
        with self._drop_lock:
            if (
                len(self._queue) >= self._capacity
                or self._queued_batch_rows + batch.rows > MAX_QUEUED_BATCH_ROWS
            ):
                self.dropped[index] += batch.rows
                return False
            self._queued_batch_rows += batch.rows
            self._queued_matrix_values += batch.values
            wake = (
                self._queued_batch_rows >= WAKE_AT_BATCH_ROWS
                or self._queued_matrix_values >= WAKE_AT_MATRIX_VALUES
            )
        self._queue.append((index, None, batch))
        if wake or self._worker is None:
            self.wake()
        return True

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
                    self._pass()
                finally:
                    self._lock.release()

    def _pass(self) -> None:
        """One pass of the worker over what is queued now (the caller holds the lock)."""
        with _quiet_numpy():
            self._drain_sources()
            self._process(len(self._queue))
            self._close_due_time_windows()

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
        popleft = self._queue.popleft
        taken: list[tuple[int, SpanContext | None, Any]] = []
        keep = taken.append
        try:
            for _ in range(count):
                keep(popleft())
        except IndexError:
            pass  # drained meanwhile (a shutdown's _drop_queued): keep what was taken
        grouped: dict[int, list[tuple[int, SpanContext | None, Any]]]
        if len(self._states) == 1:
            grouped = {0: taken}  # one expectation: nothing to sort out
        else:
            grouped = {}
            for item in taken:
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
        batches: list[_Batch] = []
        layout: tuple[object, ...] = ()
        batched_rows = 0
        for item in items:
            payload = item[2]
            if type(payload) is _Batch:
                self._feed_rows(state, rows)
                rows = []
                with self._drop_lock:
                    self._queued_batch_rows -= payload.rows
                    self._queued_matrix_values -= payload.values
                # Consecutive batches of one layout are fed as one: small model
                # calls (a row each) would otherwise pay the per-batch cost per row.
                payload_layout = payload.layout()
                if batches and (
                    payload_layout != layout or batched_rows + payload.rows > MAX_COALESCED_ROWS
                ):
                    self._feed_batches(state, batches)
                    batches = []
                    batched_rows = 0
                batches.append(payload)
                layout = payload_layout
                batched_rows += payload.rows
            else:
                if batches:
                    self._feed_batches(state, batches)
                    batches = []
                    batched_rows = 0
                rows.append(item)
        if batches:
            self._feed_batches(state, batches)
        self._feed_rows(state, rows)

    def _feed_batches(self, state: _ExpectationState, batches: list[_Batch]) -> None:
        """Feed batches of one layout as one, then hand their matrix buffers back."""
        try:
            self._feed_batch(state, _Batch.concatenate(batches))
        finally:
            for batch in batches:
                if batch.matrix is not None:
                    self._buffers.give(batch.matrix)

    def _feed_rows(
        self, state: _ExpectationState, rows: list[tuple[int, SpanContext | None, Any]]
    ) -> None:
        if not rows:
            return
        contexts = [row[1] for row in rows]
        columns = [[row[2][position] for row in rows] for position in range(len(state.watches))]
        self._feed_columns(state, contexts, columns)

    def feed_columns(
        self,
        index: int,
        contexts: list[SpanContext | None],
        columns: Sequence[list[object]],
    ) -> None:
        """Feed spans' values to expectation ``index``: a column per watched value, in
        the order of its watches, and a span context per row.

        For sources (``add_source``), which run on the worker with the engine's
        lock held: there the queue would only be a detour.
        """
        try:
            self._feed_columns(self._states[index], contexts, columns)
        except Exception:
            self._count_error("worker")

    def _feed_columns(
        self,
        state: _ExpectationState,
        contexts: list[SpanContext | None],
        columns: Sequence[list[object]],
    ) -> None:
        total = len(contexts)
        start = 0
        while start < total:
            end = min(total, start + state.room())
            if start == 0 and end == total:
                chunk_contexts, chunk = contexts, columns
            else:
                chunk_contexts = contexts[start:end]
                chunk = [column[start:end] for column in columns]
            for watch_state, raw in zip(state.watches, chunk, strict=True):
                self._apply(state, watch_state, raw, chunk_contexts)
            self._advance(state, end - start)
            start = end

    def _feed_batch(self, state: _ExpectationState, batch: _Batch) -> None:
        plan: _MatrixPlan | None = None
        if batch.matrix is not None:
            key = (batch.matrix_positions, bool(self._value_listeners))
            plan = state.matrix_plans.get(key)
            if plan is None:
                plan = state.matrix_plans[key] = _MatrixPlan(
                    state.watches, batch.matrix_positions, bool(self._value_listeners)
                )
        in_matrix = set(batch.matrix_positions)
        # The rows each window takes: what is left of the open one, then whole ones.
        # (Only the last part can leave a window open, so a CUSUM alarm, which
        # closes a window early, cannot move a boundary.)
        parts: list[int] = []
        room, full = state.room(), state.expectation.window.spans
        left = batch.rows
        while left > 0:
            parts.append(min(room, left))
            left -= parts[-1]
            room = full if full is not None else 1 << 62
        banked_counts = None
        if plan is not None and plan.bank is not None and batch.matrix is not None:
            matrix = batch.matrix
            banked = matrix if plan.banked_columns is None else matrix[:, plan.banked_columns]
            # Binned once for all the windows the batch straddles.
            banked_counts = plan.bank.count(banked, parts)
        start = 0
        for part, take in enumerate(parts):
            if plan is not None and batch.matrix is not None:
                block = batch.matrix[start : start + take]
                if plan.bank is not None and banked_counts is not None:
                    plan.bank.add(banked_counts[part])
                    for position in plan.banked_positions:
                        state.watches[position].count_binned(take)
                for position, matrix_column in plan.single:
                    self._apply(state, state.watches[position], block[:, matrix_column], None)
            for position, watch_state in enumerate(state.watches):
                if position in in_matrix:
                    continue
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
        if kind == "span.duration" and contexts is not None:
            # Span rows carry nanoseconds; observe()'s columns are in the watch's
            # unit already, whichever path (numeric array or list) they take.
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
        results = state.scorer.score(state.watches)
        evaluations = tuple(
            watch.finish_window(result)
            for watch, result in zip(state.watches, results, strict=True)
        )
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
                self._drain_sources()
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
        with self._start_lock:  # no worker starts from here on (start_worker checks _closed)
            worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout=max(timeout_millis, 0) / 1000.0)
        # The last windows take what is queued, and what producers parked (the
        # span processor's ended spans): the flush drains its sources first.
        self._flush(timeout_millis, final=True)
        # From here on nothing reads the queue: spans that still end (the SDK keeps
        # calling on_end after shutdown) are dropped and counted, not parked in it.
        self._capacity = 0
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
                    self._queued_matrix_values -= payload.values

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
        return self._by_name(counts)

    def sampled_out_by_expectation(self) -> dict[str, int]:
        with self._drop_lock:
            counts = dict(self.sampled_out)
        return self._by_name(counts)

    def _by_name(self, counts: Mapping[int, int]) -> dict[str, int]:
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
    key = _find_key(watch, columns)
    return None if key is None else columns[key]


def _find_key(watch: Watch, columns: Mapping[str, object]) -> str | None:
    """The key of ``columns`` that holds ``watch``'s column: its name, else a source attribute."""
    for name in (watch.name, *watch.source.attributes):
        if columns.get(name) is not None:
            return name
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
