"""The drift engine: a bounded queue in front of a background worker.

``DriftEngine`` is the front the span processor, the signals and the
instrumentations use; it composes three parts, as the OpenTelemetry SDK's
``BatchSpanProcessor`` is a thin adapter over its ``BatchProcessor``:

- ``worker.Worker``: the queue, the thread that drains it, flush, shutdown
  and fork handling, and the counts of what was never fed;
- ``intake.Intake``: ``observe``/``observe_matrix``, whole columns queued as a batch;
- ``windows.Windows``: each expectation's open window, fed, split, closed and scored.

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

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from numpy.typing import ArrayLike
from opentelemetry.trace import SpanContext

from otel_drift._internal.engine.clock import SYSTEM_CLOCK, Clock
from otel_drift._internal.engine.intake import Intake
from otel_drift._internal.engine.results import Listener, ValueListener, ViolationListener
from otel_drift._internal.engine.watch_state import WatchState
from otel_drift._internal.engine.windows import Windows
from otel_drift._internal.engine.worker import Closing, Item, Worker
from otel_drift._internal.expectations.model import ExpectationsFile, Window
from otel_drift._internal.settings import Settings


class DriftEngine:
    """Sketches, windows and detectors for one expectations file, fed off-thread."""

    def __init__(
        self,
        expectations: ExpectationsFile,
        settings: Settings | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``clock``: where window start times and windows due by time read the time
        (``clock.py``; tests pass one they set)."""
        self.settings = settings or Settings()
        self.expectations = _with_default_windows(expectations, self.settings)
        self.index: Mapping[str, int] = {e.name: i for i, e in enumerate(expectations.expectations)}
        self._worker = worker = Worker(self.settings, self._work, self._after_fork)
        self._intake = Intake(
            self.expectations,
            self.index,
            self.settings,
            enqueue=worker.enqueue,
            count_sampled_out=worker.count_sampled_out,
            count_error=worker.count_error,
        )
        self._windows = Windows(
            self.expectations, self.settings.max_categories, worker, self._intake.release, clock
        )
        #: The last closed windows (at most 1000), oldest first.
        self.history = self._windows.history
        # What producers call per span is the worker's own method: a method here
        # that passed the call on would add a call to every span.
        #: ``submit(index, span_context, values)``: queue one matched span's raw
        #: values. O(1), lock-free unless the queue is full.
        self.submit = worker.submit
        #: Have the worker run now rather than at its next flush interval.
        self.wake = worker.wake
        #: Start the worker thread if it is not running yet (producers call it on input).
        self.start_worker = worker.start

    def _work(self, items: list[Item], closing: Closing) -> None:
        """A pass of the worker (its lock held): feed what it took, close what is due."""
        self._windows.feed(items)
        self._windows.close(closing)

    def _after_fork(self) -> None:
        # In a forked child: the parent's windows, buffers and history are its own.
        self._intake.reset()
        self._windows.reset()

    # -- listeners and sources -------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` (on the worker thread) with every closed window."""
        self._windows.listeners.append(listener)

    def add_value_listener(self, listener: ValueListener) -> None:
        """Call ``listener`` (on the worker) with each batch of valid numeric values."""
        self._windows.value_listeners.append(listener)

    def add_violation_listener(self, listener: ViolationListener) -> None:
        self._windows.violation_listeners.append(listener)

    def add_source(self, source: Callable[[], None]) -> None:
        """Call ``source`` (on the worker, and in every flush, with the engine's lock
        held) before each pass over the queue: a producer that parks its raw input
        feeds it there (``feed_columns``), or queues it (``submit``)."""
        self._worker.add_source(source)

    # -- input -----------------------------------------------------------------

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
        return self._intake.observe(expectation, columns, rows)

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
        return self._intake.observe_matrix(expectation, matrix, columns_of, columns)

    def count_sampled_out(self, expectation: str, rows: int) -> None:
        """Count ``rows`` a producer left out of what it handed ``expectation``
        (a model call's rows sampled out under ``OTEL_DRIFT_COST_BUDGET``)."""
        index = self.index.get(expectation)
        if index is not None and rows > 0:
            self._worker.count_sampled_out(index, rows)

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
        self._windows.feed_columns(index, contexts, columns)

    # -- flush and shutdown ----------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Process what is queued now and evaluate the partial windows.

        A partial window with fewer than ``min_samples`` spans is left open:
        a caller that flushes after every request (a serverless handler)
        would otherwise close windows of one span that can never be judged.
        """
        return self._worker.flush(timeout_millis, final=False)

    def shutdown(self, timeout_millis: int = 30000) -> None:
        """Stop the worker, then evaluate the last partial windows. Idempotent."""
        self._worker.shutdown(timeout_millis)

    # -- reading (metrics callbacks, tests) ------------------------------------

    @property
    def errors(self) -> int:
        """Internal errors swallowed (and logged) so far."""
        return self._worker.errors

    @property
    def dropped(self) -> Counter[int]:
        """Spans (rows of batches) dropped because the queue was full, by expectation index."""
        return self._worker.dropped

    def watch_states(self) -> Iterable[WatchState]:
        for state in self._windows.states:
            yield from state.watches

    def snapshot(self, timeout_s: float = 1.0) -> list[WatchState] | None:
        """The watch states, read under the worker's lock (None on timeout)."""
        lock = self._worker.lock
        if not lock.acquire(timeout=timeout_s):
            return None
        try:
            return list(self.watch_states())
        finally:
            lock.release()

    def status(self, expectation: str, watch: str) -> int:
        for watch_state in self._windows.states[self.index[expectation]].watches:
            if watch_state.watch.name == watch:
                return watch_state.status
        raise KeyError(f"{expectation}.{watch}")

    def dropped_by_expectation(self) -> dict[str, int]:
        return self._by_name(self._worker.counts()[0])

    def sampled_out_by_expectation(self) -> dict[str, int]:
        return self._by_name(self._worker.counts()[1])

    def _by_name(self, counts: Mapping[int, int]) -> dict[str, int]:
        return {
            self.expectations.expectations[index].name: count for index, count in counts.items()
        }


def _with_default_windows(expectations: ExpectationsFile, settings: Settings) -> ExpectationsFile:
    """Give expectations that declare no window the ``OTEL_DRIFT_WINDOW`` default."""
    window = Window(spans=settings.default_window.spans, seconds=settings.default_window.seconds)
    return replace(
        expectations,
        expectations=tuple(
            e if e.window_declared else replace(e, window=window) for e in expectations.expectations
        ),
    )
