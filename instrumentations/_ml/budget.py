"""Model calls within ``OTEL_DRIFT_COST_BUDGET``: which calls and rows are observed.

What otel-drift adds to a model call beyond its span is the caller's work
(reading the input once, checking constraints, copying what is handed over)
and the drift worker's (binning each handed value, closing windows). Both are
measured in CPU time: the caller's on its own thread clock around that work,
the worker's on the worker's thread clock between two passes, divided by the
values handed over in between (:class:`WorkerMeter`; every pass's CPU counts,
so spans of other expectations that the worker reads make the estimate
higher, never lower). The model call's own thread CPU is measured every
``MEASURE_EVERY`` calls (a thread clock read costs ~0.7 µs here, ~1 % of a
fast 110 µs predict if taken twice per call). Each is a moving average.

A call of ``n`` rows whose observation would cost more than the budget keeps
fewer rows, drawn uniformly at random (a numpy Generator, without
replacement: evenly spaced rows would alias with batches ordered or grouped
by a key); when even one row is over budget (one-row calls of a fast model),
whole calls are observed at random, with a probability that keeps the
average within the budget. The plan only reads the averages: a few float
operations per call. Rows left out are counted (``drift.sampled_out``), so
observed + left out = rows handed to the model, exactly.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from otel_drift._internal import feed

from .frames import Array

if TYPE_CHECKING:
    from otel_drift import DriftSpanProcessor

#: Weight of the newest measurement in each moving average.
EWMA_WEIGHT = 0.2
#: A model's own call time is measured on one call in this many.
MEASURE_EVERY = 8
#: The first calls of a model are observed whole, to measure what they cost;
#: each replaces the estimate (the very first pays one-off set-up).
WARM_UP_CALLS = 3
#: The worker's CPU per value before a pass has been measured: ~20 ns
#: (benchmarks/ml_batches.py: ~550 µs per 1,024 x 30 batch).
PRIOR_WORKER_NS_PER_VALUE = 20.0

#: Uniform draws made at once for the per-call decisions.
DRAWS = 1024

Clock = Callable[[], int]


class CallStats:
    """What one model's calls cost, as moving averages (nanoseconds of CPU)."""

    __slots__ = ("call_ns", "caller_ns", "calls", "observed", "share")

    def __init__(self) -> None:
        #: The model call's own time.
        self.call_ns = 0.0
        #: The caller's cost of observing one call (its rows read, checked, handed over).
        self.caller_ns = 0.0
        self.calls = 0
        self.observed = 0
        #: Share of calls observed at the last plan (for spans decided before the call).
        self.share = 1.0


class WorkerMeter:
    """The drift worker's CPU per value handed to it, read on the worker's thread.

    ``on_pass`` runs at the start of each pass (``feed.on_worker_pass``): the
    thread CPU since the previous pass started is what that pass cost, and it
    fed the values handed over before it started. A pass on another thread
    (a flush) starts afresh.
    """

    def __init__(self, clock: Clock = time.thread_time_ns) -> None:
        self.ns_per_value = PRIOR_WORKER_NS_PER_VALUE
        self.pending_values = 0
        self._clock = clock
        self._thread: int | None = None
        self._last = 0
        #: Values the previous pass took.
        self._taken = 0

    def handed(self, values: int) -> None:
        self.pending_values += values

    def on_pass(self) -> None:
        now = self._clock()
        thread = threading.get_ident()
        if thread == self._thread and self._taken:
            sample = (now - self._last) / self._taken
            self.ns_per_value += EWMA_WEIGHT * (sample - self.ns_per_value)
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

    def observed(self, stats: CallStats, ns: float) -> None:
        stats.observed += 1
        stats.caller_ns = ns if stats.observed <= WARM_UP_CALLS else _ewma(stats.caller_ns, ns)

    def plan(
        self, stats: CallStats, rows: int, values_per_row: int, fraction: float, meter: WorkerMeter
    ) -> int:
        """Rows of a call of ``rows`` to observe when it is observed; sets ``stats.share``,
        the share of calls observed (drawn before each call).

        All rows when they fit the budget; else as many as fit; else, when
        even one row does not, enough rows to amortize the caller's fixed
        cost, in a share of the calls that keeps the average within budget.
        """
        if fraction <= 0 or stats.observed < WARM_UP_CALLS:
            stats.share = 1.0
            return rows
        budget = fraction * stats.call_ns
        fixed = stats.caller_ns
        per_value = self.worker_ns_per_value
        per_row = values_per_row * (meter.ns_per_value if per_value is None else per_value)
        if fixed + rows * per_row <= budget:
            keep, share = rows, 1.0
        elif fixed + per_row <= budget:
            keep, share = max(1, int((budget - fixed) / per_row)), 1.0
        else:
            keep = rows if per_row <= 0 else min(rows, max(1, math.ceil(fixed / per_row)))
            share = budget / (fixed + keep * per_row)
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
    return average + EWMA_WEIGHT * (sample - average)
