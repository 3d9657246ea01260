"""The state of one watched value: window sketch, lifetime counts, detector, status.

Lives on the worker thread only (the engine's lock guards it). ``add_numbers``
and ``add_labels`` take whole columns; ``close_window`` runs the detector on
the window, updates the hysteresis and starts the next window.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, deque
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
from otel_drift._internal.detectors.cusum import normal_scores, reference_allowance
from otel_drift._internal.detectors.significance import (
    POOLED_WINDOWS,
    gated_level,
    window_p_value,
)
from otel_drift._internal.engine.what_moved import (
    OTHER_LABEL,
    SegmentShare,
    category_changes,
    median_move,
    nameable,
    top_changes,
)
from otel_drift._internal.expectations.model import (
    BinnedBaseline,
    CategoricalBaseline,
    Expectation,
    Watch,
)
from otel_drift._internal.expectations.noise import WindowVectors
from otel_drift._internal.semconv import STATUS_NAMES, STATUS_NO_DATA
from otel_drift._internal.sketches import BinnedHistogram, CategoryCounter

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
    #: What moved most (``drift.top_changes``); filled for drifting windows only.
    top_changes: tuple[str, ...] = ()
    #: Why the status is what it is when the score alone does not say it:
    #: no usable values, a material score that was not significant, a status
    #: held by hysteresis.
    reason: str | None = None
    #: Where the thresholds came from: "declared", "default" or "learned".
    thresholds: str = "default"
    #: The segments that carried a drifting window (``drift.explained_by``, ``segments.py``).
    explained: tuple[SegmentShare, ...] = ()

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
            vectors = WindowVectors(baseline)
            self.expected, self.points = vectors.expected, vectors.points
            self.labels = bin_labels(baseline.edges)
        elif isinstance(baseline, CategoricalBaseline):
            self.known = tuple(baseline.categories)
            self.categories = CategoryCounter(max_categories, self.known)
            self.lifetime_categories = CategoryCounter(max_categories, self.known)
            self.expected = WindowVectors(baseline).expected
            self.labels = (*self.known, OTHER_LABEL)
        elif watch.kind == "categorical":
            # Constraints only: still count the mix so it is visible.
            self.categories = CategoryCounter(max_categories, ())
        self.cusum: Cusum | None = None
        self.cusum_window_max = 0.0
        self._edges: NDArray[np.float64] | None = None
        if isinstance(baseline, BinnedBaseline):
            self._edges = np.array(baseline.edges)
        if watch.method == "cusum" and isinstance(baseline, BinnedBaseline):
            # Fed normal scores through the baseline's CDF (see detectors/cusum.py).
            k = reference_allowance(watch.cusum_k, baseline.samples)
            self.cusum = Cusum(0.0, 1.0, k)
        self._significance = METHODS[watch.method].threshold_kind == "distance"
        #: The last judged window's counts, pooled with the next (``_p_value``).
        self._before: deque[NDArray[np.float64]] = deque(maxlen=POOLED_WINDOWS - 1)
        self._unit = watch.source.unit if watch.source.kind == "span.duration" else ""
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
            if finite.size and self._edges is not None and self.expected is not None:
                scores = normal_scores(finite, self._edges, self.expected[1:-1])
                update = self.cusum.update(scores)
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
            return self._lifetime_categories(self.lifetime_categories, self.categories)
        else:
            return []
        return [
            (name, float(count), float(fraction))
            for name, count, fraction in zip(self.labels, counts, self.expected, strict=True)
        ]

    def _lifetime_categories(
        self, lifetime: CategoryCounter, window: CategoryCounter
    ) -> list[tuple[str, float, float]]:
        """Every category by name (baseline ones first, share 0 for the others);
        ``__other__`` holds only what was past the counter's cap."""
        assert self.expected is not None  # categorical baselines always have shares
        counts: Counter[str] = Counter(lifetime.counts)
        counts.update(window.counts)
        rows = [
            (name, float(counts.pop(name, 0)), float(share))
            for name, share in zip(self.known, self.expected.tolist(), strict=False)
        ]
        other = float(lifetime.other + window.other)
        for name, count in counts.items():
            if nameable(self.watch.source.kind, name):
                rows.append((name, float(count), 0.0))
            else:
                other += count
        rows.append((OTHER_LABEL, other, 0.0))
        return rows

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
        :class:`~otel_drift._internal.engine.window_scores.WindowScorer`) and start the next.

        The window's level is the lower of two: the score against the
        thresholds (is the change material?) and, for the distance methods,
        the significance of the deviation at this window's size (is it real?
        ``detectors/significance.py``). The test methods' thresholds are their
        significance levels already; CUSUM's interval is calibrated by itself.
        """
        previous = self.status
        reason: str | None = None
        p = result.p_value if result is not None else None
        window_level = 0
        if result is not None:
            window_level = level(
                self.threshold_kind, result, self.watch.warning, self.watch.critical
            )
            if self._significance or self.watch.method == "chi_square":
                p = self._p_value()
            material = window_level
            window_level = gated_level(self.threshold_kind, self.watch.method, material, p)
            if self._significance and window_level < material:
                reason = (
                    f"{self.watch.method} {result.score:.3g} reaches "
                    f"{STATUS_NAMES[material]}, but not "
                    f"significant at {self.samples} values (p={p:.2g}, alone or "
                    "pooled with the windows before)"
                )
            self.status = self.hysteresis.update(window_level)
            if self.status > window_level:
                reason = (
                    f"held by hysteresis: this window is "
                    f"{STATUS_NAMES[window_level]}; the status clears "
                    f"after {self.hysteresis.clear_after} windows below it"
                )
        else:
            # A window too small to judge breaks the pairing: never pool
            # windows that were not adjacent (``_p_value``).
            self._before.clear()
            if self.samples == 0 and self.missing + self.invalid > 0 and self._judged():
                self.status = STATUS_NO_DATA
                reason = f"no valid values: {self.missing} missing, {self.invalid} invalid"
            elif self.status == STATUS_NO_DATA:
                self.status = self.hysteresis.status
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
            p_value=p,
            level=window_level,
            status=self.status,
            previous_status=previous,
            warning=self.watch.warning,
            critical=self.watch.critical,
            top_changes=self._what_moved() if (window_level or self.status > 0) else (),
            reason=reason,
            thresholds=self.watch.thresholds,
        )
        self.last = evaluation
        self._reset_window(alarmed=window_level == 2)
        return evaluation

    def judge_by(self, watch: Watch, expected: NDArray[np.float64]) -> None:
        """Judge the open window against ``watch``'s baseline, a profile's slot
        (``engine/profiles.py``): its edges or categories are this value's, its
        ``expected`` the slot's. Windows of another slot are not pooled with it."""
        self.watch = watch
        self.expected = expected
        self._before.clear()

    def _judged(self) -> bool:
        """True when this value is judged against a baseline (not constraints only)."""
        return self.expected is not None or self.cusum is not None

    def _p_value(self) -> float | None:
        """The window's significance, alone or with the window before it
        (``significance.window_p_value``); keeps this window for the next."""
        observed = self.observed()
        if observed is None or self.expected is None or observed.sum() <= 0:
            self._before.clear()
            return None
        baseline = self.watch.baseline
        samples = baseline.samples if baseline else None
        p = window_p_value(self.expected, observed, self._before, samples)
        self._before.appendleft(observed.copy())
        return p

    def _what_moved(self) -> tuple[str, ...]:
        """``drift.top_changes`` of the open window (see ``what_moved.py``)."""
        if self.expected is None:
            return ()
        if self.histogram is not None and self._edges is not None:
            counts = self.histogram.extended_counts()
            unit = f" {self._unit}" if self._unit else ""
            labels = [f"{label}{unit}" for label in self.labels]
            changes = top_changes(labels, self.expected.tolist(), counts.tolist())
            median = median_move(self._edges, self.expected, counts, self._unit)
            return (median, *changes) if median else changes
        if self.categories is not None:
            return category_changes(
                self.watch.source.kind, self.known, self.expected.tolist(), self.categories
            )
        return ()

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
