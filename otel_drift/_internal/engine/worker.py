"""The engine's queue and the background thread that empties it.

Request threads only ever call :meth:`Worker.submit` (a length check and a
deque append: no lock, no numpy, never blocks) or hand over a whole batch
(:meth:`Worker.enqueue`, which takes a short lock). The thread wakes every
flush interval, or sooner when woken, calls the producers that park their own
input (sources), takes what is queued and hands it, under the worker's lock,
to the engine's ``work`` callback. Flush and shutdown run the same pass from
the caller's thread. The worker also owns the counts of what was never fed
(dropped, sampled out) and of its own errors, and rebuilds its process-local
state in a forked child (gunicorn pre-fork workers), as the SDK's
``BatchProcessor`` does for its own.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from opentelemetry.trace import SpanContext

from otel_drift._internal.engine.intake import Batch
from otel_drift._internal.settings import Settings

_logger = logging.getLogger(__name__)

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

#: One queued item: the expectation's index, the span's context (None for a
#: batch) and the span's raw values (a tuple, a value per watch) or a Batch.
Item = tuple[int, SpanContext | None, Any]
#: Which windows a pass closes once it has fed what it took: those due by time
#: (a pass of the thread), the open ones holding ``min_samples`` (force_flush),
#: or every open one (shutdown).
Closing = Literal["due", "enough", "all"]


class Worker:
    """The bounded queue, the thread that drains it, and its flush and shutdown.

    ``work(items, closing)`` is called with the worker's lock held: on the
    thread at every pass, and from ``flush``. ``after_fork`` is called in a
    forked child once the worker has rebuilt its own state, for the engine to
    rebuild the rest of its own.
    """

    def __init__(
        self,
        settings: Settings,
        work: Callable[[list[Item], Closing], None],
        after_fork: Callable[[], None],
    ) -> None:
        self._capacity = settings.queue_size
        self._high_water = max(1, self._capacity // 2)
        self._interval = settings.flush_interval_s
        self._work = work
        self._after_fork = after_fork
        self._sources: list[Callable[[], None]] = []
        self._init_process_state()
        weak = weakref.ref(self)

        def after_fork_in_child() -> None:
            worker = weak()
            if worker is not None:
                worker._forked()

        os.register_at_fork(after_in_child=after_fork_in_child)

    # -- process-local state (rebuilt in a forked child) ---------------------

    def _init_process_state(self) -> None:
        self.queue: deque[Item] = deque()
        #: Held by every pass and flush; readers of the windows' state take it too.
        self.lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._wake = threading.Event()
        #: Started with the first input (start): a process that never ends a span
        #: (a pre-fork master, multiprocessing's resource tracker) runs no thread
        #: that wakes at every flush interval for nothing.
        self.thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False
        self._closed = False
        self._queued_batch_rows = 0
        self._queued_matrix_values = 0
        #: Spans (rows of batches) refused because the queue was full, by expectation.
        self.dropped: Counter[int] = Counter()
        #: Rows of large batches left out of the sample observed (max_batch_rows).
        self.sampled_out: Counter[int] = Counter()
        self.errors = 0

    def _forked(self) -> None:
        # The parent's worker thread does not exist here, its locks may be
        # held, and its counts were (or will be) reported by the parent.
        self._init_process_state()
        self._after_fork()

    def start(self) -> None:
        """Start the thread if it is not running yet (producers call it on input)."""
        if self.thread is not None or self._closed:
            return
        with self._start_lock:
            if self.thread is None and not self._closed:
                thread = threading.Thread(target=self._run, name="otel-drift-worker", daemon=True)
                thread.start()
                self.thread = thread

    def wake(self) -> None:
        """Have the thread run now rather than at its next flush interval."""
        if not self._wake.is_set():  # Event.set takes a lock and notifies: once
            self._wake.set()
        if self.thread is None:
            self.start()

    def add_source(self, source: Callable[[], None]) -> None:
        """Call ``source`` (with the lock held) before each pass over the queue."""
        self._sources.append(source)

    # -- producers -----------------------------------------------------------

    def submit(
        self, index: int, span_context: SpanContext | None, values: tuple[object, ...]
    ) -> None:
        """Queue one matched span's raw values. O(1), lock-free unless the queue is full."""
        queue = self.queue
        size = len(queue)
        if size < self._capacity:
            queue.append((index, span_context, values))
            if size == self._high_water:
                self._wake.set()
            elif not size and self.thread is None:
                self.start()
        else:
            with self._drop_lock:
                self.dropped[index] += 1

    def enqueue(self, index: int, batch: Batch) -> bool:
        """Queue a batch, or count its rows as dropped (False) when the queue is full."""
        with self._drop_lock:
            if (
                len(self.queue) >= self._capacity
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
        self.queue.append((index, None, batch))
        if wake or self.thread is None:
            self.wake()
        return True

    def batch_taken(self, batch: Batch) -> None:
        """A queued batch is being fed: its rows no longer count against the queue."""
        with self._drop_lock:
            self._queued_batch_rows -= batch.rows
            self._queued_matrix_values -= batch.values

    def count_sampled_out(self, index: int, rows: int) -> None:
        with self._drop_lock:
            self.sampled_out[index] += rows

    def counts(self) -> tuple[dict[int, int], dict[int, int]]:
        """Copies of (dropped, sampled_out), read under the lock that guards them."""
        with self._drop_lock:
            return dict(self.dropped), dict(self.sampled_out)

    def count_error(self, where: str) -> None:
        self.errors += 1
        # Log the first few in full, then every 1000th, so a persistent bug
        # cannot flood the host's logs.
        if self.errors <= 3 or self.errors % 1000 == 0:
            _logger.exception("otel-drift: internal error in %s (#%d)", where, self.errors)

    # -- the thread ----------------------------------------------------------

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopped:
                break
            # A flush may hold the lock; the next tick will catch up.
            if self.lock.acquire(timeout=self._interval):
                try:
                    self.run_pass()
                finally:
                    self.lock.release()

    def run_pass(self, closing: Closing = "due") -> None:
        """One pass over what is queued now (the caller holds the lock)."""
        with quiet_numpy():
            self._drain_sources()
            self._work(self._take(len(self.queue)), closing)

    def _drain_sources(self) -> None:
        for source in self._sources:
            try:
                source()
            except Exception:
                self.count_error("source")

    def _take(self, count: int) -> list[Item]:
        """Take ``count`` queued items (only those there now: producers may go on)."""
        taken: list[Item] = []
        if count <= 0:
            return taken
        popleft = self.queue.popleft
        keep = taken.append
        try:
            for _ in range(count):
                keep(popleft())
        except IndexError:
            pass  # drained meanwhile (a shutdown's _drop_queued): keep what was taken
        return taken

    # -- flush and shutdown ----------------------------------------------------

    def flush(self, timeout_millis: int, *, final: bool) -> bool:
        """Run a pass now, closing the open windows (all of them when ``final``)."""
        if not self.lock.acquire(timeout=max(timeout_millis, 0) / 1000.0):
            return False
        try:
            self.run_pass("all" if final else "enough")
            return True
        except Exception:
            self.count_error("flush")
            return False
        finally:
            self.lock.release()

    def shutdown(self, timeout_millis: int) -> None:
        """Stop the thread, then run the last pass. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopped = True
        self._wake.set()
        with self._start_lock:  # no thread starts from here on (start checks _closed)
            thread = self.thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=max(timeout_millis, 0) / 1000.0)
        # The last windows take what is queued, and what producers parked (the
        # span processor's ended spans): the flush drains its sources first.
        self.flush(timeout_millis, final=True)
        # From here on nothing reads the queue: spans that still end (the SDK keeps
        # calling on_end after shutdown) are dropped and counted, not parked in it.
        self._capacity = 0
        self._drop_queued()

    def _drop_queued(self) -> None:
        """Count what was queued too late for the last flush as dropped."""
        while True:
            try:
                index, _context, payload = self.queue.popleft()
            except IndexError:
                return
            rows = payload.rows if isinstance(payload, Batch) else 1
            with self._drop_lock:
                self.dropped[index] += rows
                if isinstance(payload, Batch):
                    self._queued_batch_rows -= rows
                    self._queued_matrix_values -= payload.values


def quiet_numpy() -> np.errstate:
    """No floating-point warnings from the host's values (1e308 squared, inf - inf).

    Under ``-W error`` or ``PYTHONWARNINGS=error`` (common in a host's test suite)
    a warning is an exception, and one would lose a whole batch of values. numpy's
    error state is per thread (a context variable), so the host's own is untouched.
    """
    return np.errstate(all="ignore")
