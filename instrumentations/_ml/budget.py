"""Model calls within ``OTEL_DRIFT_COST_BUDGET``: which calls and rows are observed.

What otel-drift adds to a model call beyond its span is, for every call, a
fixed cost (the wrappers, finding what the model feeds, counting its rows:
~5 µs here, ``added_ns``), and for an observed call the caller's work
(reading the input once, checking constraints, copying what is handed over:
``caller_ns``) and the drift worker's (binning each handed value, closing
windows). All are measured in CPU time: the caller's on its own thread clock,
the worker's on the worker's thread clock between two passes, beyond what a
pass that took none of our values costs, divided by the values handed over
(:class:`WorkerMeter`). The model call's own thread CPU, and the fixed cost
after it, are measured every ``MEASURE_EVERY`` calls (a thread clock read
costs ~0.6 µs here: four on a measured call, ~0.3 µs a call on average).
Each is a moving average whose samples count for at most ``CLIP`` times it
(a garbage collection inside one measured call would otherwise move it).

The budget left for observing is ``fraction`` of the call's time less the
fixed cost. A call of ``n`` rows whose observation would cost more keeps
fewer rows, drawn uniformly at random (a numpy Generator, without
replacement: evenly spaced rows would alias with batches ordered or grouped
by a key); when even one row is over budget (one-row calls of a fast model),
whole calls are observed at random, with a probability that keeps the
average within the budget (never below ``MIN_SHARE``). The decision for a
call is drawn before it runs and before its input is read: a call left out
is counted, never converted. The plan only reads the averages: a few float
operations per measured or observed call. Rows left out are counted
(``drift.sampled_out``), so observed + left out = rows handed to the model,
exactly.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from otel_drift._internal import feed

from .frames import Array

if TYPE_CHECKING:
    from otel_drift import DriftSpanProcessor

#: Weight of the newest measurement in each moving average.
EWMA_WEIGHT = 0.2
#: A sample counts for at most this many times the average it updates (after
#: the first): a real change of cost is followed within a few measurements
#: (x1.4 a measurement), an outlier moves the average by 40 % at most.
CLIP = 3.0
#: A model's own call time is measured on one call in this many.
MEASURE_EVERY = 8
#: The first calls of a model are observed whole, to measure what they cost;
#: each replaces the estimate (the very first pays one-off set-up).
WARM_UP_CALLS = 3
#: The worker's CPU per value before a pass has been measured: ~100 ns
#: (benchmarks/ml_batches.py: ~3,200 µs per 1,024 x 30 batch, ~190 ns a value
#: for one row).
PRIOR_WORKER_NS_PER_VALUE = 100.0
#: The least share of calls observed, even when what a call left out costs us
#: already fills the budget: detection slows, it never stops.
MIN_SHARE = 0.001

#: Calls left out that wait for the worker's next pass before they are counted at once.
MAX_PENDING_LEFT_OUT = 100_000

#: Uniform draws made at once for the per-call decisions.
DRAWS = 1024

Clock = Callable[[], int]


class CallStats:
    """What one model's calls cost, as moving averages (nanoseconds of CPU)."""

    __slots__ = ("added_ns", "call_ns", "caller_ns", "calls", "observed", "share")

    def __init__(self) -> None:
        #: The model call's own time.
        self.call_ns = 0.0
        #: What we add after every call, observed or not (its input's rows read, the
        #: batch attributes set, rows counted), besides observing its rows.
        self.added_ns = 0.0
        #: The caller's cost of observing one call (its rows read, checked, handed over).
        self.caller_ns = 0.0
        self.calls = 0
        self.observed = 0
        #: Share of calls observed at the last plan (for spans decided before the call).
        self.share = 1.0


class WorkerMeter:
    """The drift worker's CPU per value handed to it, read on the worker's thread.

    ``on_pass`` runs at the start of each pass (``feed.on_worker_pass``): the
    thread CPU since the previous pass started is what that pass cost. A pass
    that took none of our values says what a pass costs anyway (its timer
    wakes it, other expectations' spans); a pass that took some is charged
    only what it cost beyond that, and the charge is a ratio of decayed sums
    (CPU over values), so a pass that took a single row weighs as little as
    that row. (Charging each pass whole to what it took, as a moving average
    of per-pass ratios, read a 200 µs pass that fed 31 values as 6 µs a
    value: fewer rows observed, dearer rows, until nearly none were.)
    A pass on another thread (a flush) starts afresh.
    """

    def __init__(self, clock: Clock = time.thread_time_ns) -> None:
        self.ns_per_value = PRIOR_WORKER_NS_PER_VALUE
        self.pending_values = 0
        #: CPU of a pass that took none of our values (None: not seen yet).
        self.idle_ns: float | None = None
        self._clock = clock
        self._thread: int | None = None
        self._last = 0
        #: Values the previous pass took.
        self._taken = 0
        #: Decayed sums, over passes that took values, of their CPU beyond an idle
        #: pass's and of the values they took.
        self._cpu = 0.0
        self._values = 0.0

    def handed(self, values: int) -> None:
        self.pending_values += values

    def on_pass(self) -> None:
        now = self._clock()
        thread = threading.get_ident()
        if thread == self._thread:
            spent = now - self._last
            taken = self._taken
            idle = self.idle_ns
            if not taken:
                self.idle_ns = spent if idle is None else _ewma(idle, spent)
            elif idle is not None:
                keep = 1.0 - EWMA_WEIGHT
                most = CLIP * max(self.ns_per_value, PRIOR_WORKER_NS_PER_VALUE) * taken
                charged = min(max(0.0, spent - idle), most)
                self._cpu = keep * self._cpu + charged
                self._values = keep * self._values + taken
                self.ns_per_value = self._cpu / self._values
        taken = self.pending_values
        self.pending_values -= taken  # not = 0: a caller may be adding meanwhile
        self._taken = taken
        self._thread = thread
        self._last = now


#: One meter per processor, shared by the instrumentations feeding it.
_METERS: weakref.WeakKeyDictionary[Any, WorkerMeter] = weakref.WeakKeyDictionary()
_METERS_LOCK = threading.Lock()


def worker_meter(processor: DriftSpanProcessor) -> WorkerMeter:
    with _METERS_LOCK:
        meter = _METERS.get(processor)
        if meter is None:
            meter = _METERS[processor] = WorkerMeter()
            feed.on_worker_pass(processor, meter.on_pass)
        return meter


class LeftOut:
    """Rows left out, counted exactly: one entry per call, appended without a lock
    (``deque.append`` is atomic: ~0.1 µs, where a lock and a dict cost 0.4 µs),
    summed per expectation in ``count`` (at the worker's next pass)."""

    def __init__(self) -> None:
        #: (processor, expectations fed, rows, whether the whole call) per call.
        self._pending: deque[tuple[DriftSpanProcessor, tuple[str, ...], int, bool]] = deque()
        self._lock = threading.Lock()
        #: Since start: rows left out, calls left out whole.
        self.rows = 0
        self.calls = 0

    def add(
        self, processor: DriftSpanProcessor, expectations: tuple[str, ...], rows: int, whole: bool
    ) -> None:
        pending = self._pending
        pending.append((processor, expectations, rows, whole))
        if len(pending) >= MAX_PENDING_LEFT_OUT:  # no worker pass for a long while
            self.count()

    def count(self) -> None:
        """Count what is pending in each processor's engine (``drift.sampled_out``)."""
        counts: dict[tuple[DriftSpanProcessor, str], int] = {}
        with self._lock:
            pending = self._pending
            while pending:
                processor, expectations, rows, whole = pending.popleft()
                self.rows += rows
                self.calls += whole
                for expectation in expectations:
                    key = (processor, expectation)
                    counts[key] = counts.get(key, 0) + rows
        for (processor, expectation), rows in counts.items():
            feed.count_sampled_out(processor, expectation, rows)


class CostBudget:
    """Plans for the calls of one instrumentation (per model: :class:`CallStats`).

    ``clock`` (thread CPU nanoseconds), ``random`` and ``worker_ns_per_value``
    (None: measured by the processor's :class:`WorkerMeter`) are injectable,
    so a test can make a model slower or faster deterministically.
    """

    def __init__(
        self,
        clock: Clock = time.thread_time_ns,
        random: np.random.Generator | None = None,
        worker_ns_per_value: float | None = None,
    ) -> None:
        self.clock = clock
        self.random = random if random is not None else np.random.default_rng()
        self.worker_ns_per_value = worker_ns_per_value
        #: Uniform draws for the per-call decision, made DRAWS at a time: one
        #: ``Generator.random()`` costs ~400 ns here, a list item ~30 ns.
        self._draws: list[float] = []

    def measures(self, stats: CallStats) -> bool:
        """Whether this call's own time is measured (counts the call)."""
        calls = stats.calls
        stats.calls = calls + 1
        return calls < WARM_UP_CALLS or calls % MEASURE_EVERY == 0

    def called(self, stats: CallStats, ns: float) -> None:
        stats.call_ns = ns if stats.calls <= WARM_UP_CALLS else _ewma(stats.call_ns, ns)

    def added(self, stats: CallStats, ns: float) -> None:
        """What a measured call cost us after it ran, besides observing its rows."""
        stats.added_ns = ns if stats.calls <= WARM_UP_CALLS else _ewma(stats.added_ns, ns)

    def observed(self, stats: CallStats, ns: float) -> None:
        stats.observed += 1
        stats.caller_ns = ns if stats.observed <= WARM_UP_CALLS else _ewma(stats.caller_ns, ns)

    def plan(
        self, stats: CallStats, rows: int, values_per_row: int, fraction: float, meter: WorkerMeter
    ) -> int:
        """Rows of a call of ``rows`` to observe when it is observed; sets ``stats.share``,
        the share of calls observed (drawn before each call).

        The budget is ``fraction`` of the call's time less what every call
        costs us anyway (``added_ns``). All rows when they fit it; else as
        many as fit; else, when even one row does not, enough rows to
        amortize the caller's fixed cost, in a share of the calls that keeps
        the average within budget (at least ``MIN_SHARE``).
        """
        if fraction <= 0 or stats.observed < WARM_UP_CALLS:
            stats.share = 1.0
            return rows
        budget = fraction * stats.call_ns - stats.added_ns
        fixed = stats.caller_ns
        per_value = self.worker_ns_per_value
        per_row = values_per_row * (meter.ns_per_value if per_value is None else per_value)
        if fixed + rows * per_row <= budget:
            keep, share = rows, 1.0
        elif fixed + per_row <= budget:
            keep, share = max(1, int((budget - fixed) / per_row)), 1.0
        else:
            keep = rows if per_row <= 0 else min(rows, max(1, math.ceil(fixed / per_row)))
            share = max(MIN_SHARE, budget / (fixed + keep * per_row))
        stats.share = share
        return keep

    def draw(self, share: float) -> bool:
        """True with probability ``share``: whether a call is observed."""
        if share >= 1.0:
            return True
        draws = self._draws
        if not draws:
            draws.extend(self.random.random(DRAWS).tolist())
        return draws.pop() < share

    def sample(self, rows: int, keep: int) -> Array | None:
        """Indices of ``keep`` of ``rows`` rows, uniformly at random, in order (None: all)."""
        if keep >= rows:
            return None
        return np.sort(self.random.choice(rows, keep, replace=False))


def _ewma(average: float, sample: float) -> float:
    """The moving average, a sample taken at most CLIP times it: a garbage collection
    or a preemption inside one measured call (milliseconds, against a 100 µs
    call) would otherwise move it for dozens of calls."""
    return average + EWMA_WEIGHT * (min(sample, CLIP * average) - average)
