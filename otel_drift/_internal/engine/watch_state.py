"""The state of one watched value: window sketch, lifetime counts, detector, status.

Lives on the worker thread only (the engine's lock guards it). ``add_numbers``
and ``add_labels`` take whole columns; ``close_window`` runs the detector on
the window, updates the hysteresis and starts the next window.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from otel_drift._internal.detectors import (
    METHODS,
    Cusum,
    DetectorResult,
    Hysteresis,
    evaluate,
    level,
)
from otel_drift._internal.expectations.model import (
    BinnedBaseline,
    CategoricalBaseline,
    Expectation,
    Watch,
)
from otel_drift._internal.sketches import BinnedHistogram, CategoryCounter

OTHER_LABEL = "__other__"
UNDERFLOW_LABEL = "underflow"
OVERFLOW_LABEL = "overflow"


@dataclass(slots=True)
class WatchEvaluation:
    """The verdict on one watched value for one closed window (read-only by convention).

    Not frozen: a frozen dataclass costs 2 µs to build against 0.4, and a window
    of a 30-feature model builds 30 of these.
    """

    expectation: str
    watch: str
    method: str
    samples: int
    missing: int
    invalid: int
    #: None when the window had fewer than ``min_samples`` values.
    score: float | None
    p_value: float | None
    level: int
    status: int
    previous_status: int
    warning: float
    critical: float

    @property
    def sufficient(self) -> bool:
        return self.score is not None


def bin_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    """Labels of [underflow, each bin, overflow], as exported in ``drift.bin``.

    >>> bin_labels((0.0, 10.0, 25.5))
    ('underflow', '[0,10)', '[10,25.5]', 'overflow')
    """

    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else repr(float(x))

    last = len(edges) - 2
    # Bins are half-open except the last, which holds its right edge too.
    inner = [
        f"[{fmt(low)},{fmt(high)}{']' if i == last else ')'}"
        for i, (low, high) in enumerate(itertools.pairwise(edges))
    ]
    return (UNDERFLOW_LABEL, *inner, OVERFLOW_LABEL)


class WatchState:
    """Everything the engine keeps for one (expectation, watched value)."""

    def __init__(self, expectation: Expectation, watch: Watch, max_categories: int) -> None:
        self.expectation = expectation.name
        self.watch = watch
        self.min_samples = expectation.min_samples
        self.hysteresis = Hysteresis(
            expectation.hysteresis.raise_after, expectation.hysteresis.clear_after
        )
        self.status = 0
        self.last: WatchEvaluation | None = None
        self.threshold_kind = METHODS[watch.method].threshold_kind
        baseline = watch.baseline
        self.histogram: BinnedHistogram | None = None
        self.lifetime_histogram: BinnedHistogram | None = None
        self.categories: CategoryCounter | None = None
        self.lifetime_categories: CategoryCounter | None = None
        self.expected: NDArray[np.float64] | None = None
        self.points: NDArray[np.float64] | None = None
        self.labels: tuple[str, ...] = ()
        self.known: tuple[str, ...] = ()
        if isinstance(baseline, BinnedBaseline):
            self.histogram = BinnedHistogram(baseline.edges)
            # A copy shares the edges array, so folding windows in skips comparing them.
            self.lifetime_histogram = self.histogram.copy()
            self.expected = np.array([0.0, *baseline.fractions, 0.0])
            edges = np.array(baseline.edges)
            self.points = np.concatenate(([edges[0]], (edges[:-1] + edges[1:]) / 2, [edges[-1]]))
            self.labels = bin_labels(baseline.edges)
        elif isinstance(baseline, CategoricalBaseline):
            self.known = tuple(baseline.categories)
            self.categories = CategoryCounter(max_categories, self.known)
            self.lifetime_categories = CategoryCounter(max_categories, self.known)
            self.expected = np.array([*baseline.categories.values(), 0.0])
            self.labels = (*self.known, OTHER_LABEL)
        elif watch.kind == "categorical":
            # Constraints only: still count the mix so it is visible.
            self.categories = CategoryCounter(max_categories, ())
        self.cusum: Cusum | None = None
        self.cusum_window_max = 0.0
        if watch.method == "cusum" and isinstance(baseline, BinnedBaseline):
            self.cusum = Cusum(baseline.mean, baseline.std, watch.cusum_k)
        # Window counts.
        self.samples = 0
        self.missing = 0
        self.invalid = 0
        # Lifetime counts, exported as monotonic counters.
        self.total_valid = 0
        self.total_missing = 0
        self.total_invalid = 0
        self.violations: Counter[str] = Counter()

    # -- feeding -------------------------------------------------------------

    def add_numbers(self, values: NDArray[np.float64], missing: int, invalid: int) -> None:
        self.missing += missing
        self.invalid += invalid
        self.total_missing += missing
        self.total_invalid += invalid
        if values.size == 0:
            return
        self.samples += int(values.size)
        self.total_valid += int(values.size)
        if self.histogram is not None:
            # Only the window's sketch per batch; it is folded into the
            # lifetime one when the window closes (one update, not two).
            self.histogram.update(values)
        if self.cusum is not None:
            finite = values[np.isfinite(values)]
            if finite.size:
                update = self.cusum.update(finite)
                self.cusum_window_max = max(self.cusum_window_max, update.max_statistic)

    def count_binned(self, values: int) -> None:
        """Count ``values`` numbers a :class:`HistogramBank` put in :attr:`histogram`."""
        self.samples += values
        self.total_valid += values

    def add_labels(self, values: list[str], missing: int, invalid: int) -> None:
        self.missing += missing
        self.invalid += invalid
        self.total_missing += missing
        self.total_invalid += invalid
        if not values:
            return
        self.samples += len(values)
        self.total_valid += len(values)
        if self.categories is not None:
            self.categories.update(values)

    def cusum_alarm(self) -> bool:
        """True when the CUSUM crossed the critical interval and the status lags."""
        return (
            self.cusum is not None
            and self.cusum_window_max >= self.watch.critical
            and self.status < 2
        )

    # -- reading -------------------------------------------------------------

    def observed(self) -> NDArray[np.float64] | None:
        if self.histogram is not None:
            return self.histogram.extended_counts()
        if self.categories is not None and self.known:
            return self.categories.aligned(self.known)
        return None

    def lifetime_bins(self) -> list[tuple[str, float, float]]:
        """(label, lifetime count, baseline fraction) per bin, for the bin metrics."""
        if self.expected is None:
            return []
        # Lifetime = closed windows (folded in at each close) + the open one.
        if self.lifetime_histogram is not None and self.histogram is not None:
            counts = self.lifetime_histogram.extended_counts() + self.histogram.extended_counts()
        elif self.lifetime_categories is not None and self.categories is not None:
            counts = self.lifetime_categories.aligned(self.known) + self.categories.aligned(
                self.known
            )
        else:
            return []
        return [
            (name, float(count), float(fraction))
            for name, count, fraction in zip(self.labels, counts, self.expected, strict=True)
        ]

    # -- windows -------------------------------------------------------------

    def score_window(self) -> DetectorResult | None:
        """The detector's result on the open window (None: not enough to judge)."""
        if self.expected is None and self.cusum is None:
            return None
        if self.samples < self.min_samples:
            return None
        watch = self.watch
        if self.cusum is not None:
            return DetectorResult(score=self.cusum_window_max)
        observed = self.observed()
        if observed is None or self.expected is None or observed.sum() <= 0:
            return None
        baseline = watch.baseline
        scale = baseline.std if isinstance(baseline, BinnedBaseline) else 1.0
        samples = baseline.samples if baseline is not None else None
        return evaluate(
            watch.method,
            self.expected,
            observed,
            points=self.points,
            scale=scale,
            baseline_samples=samples,
            alpha=watch.warning,
        )

    def close_window(self) -> WatchEvaluation:
        return self.finish_window(self.score_window())

    def finish_window(self, result: DetectorResult | None) -> WatchEvaluation:
        """Judge the open window by ``result`` (from :meth:`score_window` or a
        :class:`~otel_drift._internal.engine.window_scores.WindowScorer`) and start the next."""
        previous = self.status
        if result is not None:
            window_level = level(
                self.threshold_kind, result, self.watch.warning, self.watch.critical
            )
            self.status = self.hysteresis.update(window_level)
        else:
            window_level = 0
        score = None
        if result is not None and math.isfinite(result.score):
            score = float(result.score)
        evaluation = WatchEvaluation(
            expectation=self.expectation,
            watch=self.watch.name,
            method=self.watch.method,
            samples=self.samples,
            missing=self.missing,
            invalid=self.invalid,
            score=score,
            p_value=result.p_value if result is not None else None,
            level=window_level,
            status=self.status,
            previous_status=previous,
            warning=self.watch.warning,
            critical=self.watch.critical,
        )
        self.last = evaluation
        self._reset_window(alarmed=window_level == 2)
        return evaluation

    def _reset_window(self, *, alarmed: bool) -> None:
        self.samples = self.missing = self.invalid = 0
        if self.histogram is not None:
            if self.lifetime_histogram is not None:
                self.lifetime_histogram.merge(self.histogram)
            self.histogram.reset()
        if self.categories is not None:
            if self.lifetime_categories is not None:
                self.lifetime_categories.merge(self.categories)
            self.categories.reset()
        self.cusum_window_max = 0.0
        if self.cusum is not None and alarmed:
            # Re-arm after an alarm; a persisting shift alarms again quickly.
            self.cusum.reset()

    def reset_all(self) -> None:
        """Forget everything (a forked child must not re-report its parent's counts)."""
        self._reset_window(alarmed=True)
        if self.lifetime_histogram is not None:
            self.lifetime_histogram.reset()
        if self.lifetime_categories is not None:
            self.lifetime_categories.reset()
        self.total_valid = self.total_missing = self.total_invalid = 0
        self.violations.clear()
