"""One watched value, canary against baseline: PASS, FAIL or INCONCLUSIVE, and why.

Both sides served at the same time, so load, time of day and upstream
weather cancel out; what is left is the version. For each watched value the
gate has the two sides' per-bin counts over the same range and asks, in order:

1. Enough data? Each side needs the expectation's ``min_samples`` values
   (or ``--min-values``); else INCONCLUSIVE, saying how many are missing.
2. Material? The method's score of the canary against the baseline's shares
   (its ``warning`` threshold from the expectations file is the floor; a
   method whose thresholds are p-values or a CUSUM interval is measured by
   psi at psi's default warning). Under the floor: PASS.
3. Real? :func:`~otel_drift._internal.detectors.significance.p_value` with the
   baseline side's count as ``baseline_samples`` (the two-sample correction:
   both sides are samples). Over ``alpha`` (by default the engine's warning
   level, 1e-6): INCONCLUSIVE, material but not yet significant; on small
   samples noise alone scores over the floor, and more data decides.
4. For latency (``span.duration``), which way? Slower is bad, faster is
   fine: the rank shift (:func:`shift`) says which side's values lie higher;
   toward faster (or no way at all) is a PASS. Else FAIL.

The verdict names the bins that moved most (``500: 6.0% vs 1.0%``), so a FAIL
says which status or latency range changed.

>>> spec = WatchSpec("checkout", "status", "linf", 0.03, needed=100)
>>> judged = judge(spec, {"200": 950.0, "500": 50.0}, {"200": 990.0, "500": 10.0})
>>> judged.verdict, judged.reason
('FAIL', 'linf 0.04 >= 0.03, p = 2.2e-08; 500: 5.0% vs 1.0%, 200: 95.0% vs 99.0%')
>>> judge(spec, {"200": 40.0}, {"200": 990.0, "500": 10.0}).reason
'canary has 40 values of the 100 needed'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from otel_drift._internal.detectors import METHODS
from otel_drift._internal.detectors.method import WARNING_ALPHA, WindowInputs
from otel_drift._internal.detectors.significance import p_value

PASS = "PASS"
FAIL = "FAIL"
INCONCLUSIVE = "INCONCLUSIVE"
#: The method that measures the effect when the watch's own has no distance threshold.
FALLBACK_METHOD = "psi"
#: Bins named in a verdict: the ones whose shares moved most.
_MOVED = 3


@dataclass(frozen=True)
class WatchSpec:
    """What the gate needs to know of one watched value (from the expectations file)."""

    expectation: str
    watch: str
    #: The method that scores the effect, and its materiality floor.
    method: str
    materiality: float
    #: Values each side needs before a verdict other than INCONCLUSIVE.
    needed: int
    #: The baseline's bin edges, for numeric watches (None: categories).
    edges: tuple[float, ...] | None = None
    #: The baseline's standard deviation (methods that score in baseline sigmas).
    scale: float = 1.0
    #: Latency: slower is bad, faster is fine.
    slower_is_bad: bool = False
    unit: str = ""

    @property
    def name(self) -> str:
        return f"{self.expectation}.{self.watch}"


@dataclass(frozen=True)
class SideSummary:
    count: float
    bins: dict[str, float]
    mean: float | None = None
    median: float | None = None


@dataclass(frozen=True)
class Judgement:
    spec: WatchSpec
    verdict: str
    reason: str
    canary: SideSummary
    baseline: SideSummary
    score: float | None = None
    p_value: float | None = None
    #: Numeric values: P(canary in a higher bin than baseline) - P(lower), see :func:`shift`.
    shift: float | None = None
    #: (bin, canary share, baseline share), the largest moves first.
    moved: list[tuple[str, float, float]] = field(default_factory=list)


def bin_bounds(label: str, edges: tuple[float, ...]) -> tuple[float, float]:
    """A numeric bin's (low, high), read from its label; NaN for a label that is not a bin.

    Underflow and overflow are the outer edges themselves (as the engine scores them).

    >>> [bin_bounds(label, (0.0, 10.0, 25.0)) for label in ("underflow", "[10,25]", "x")]
    [(0.0, 0.0), (10.0, 25.0), (nan, nan)]
    """
    if label == "underflow":
        return edges[0], edges[0]
    if label == "overflow":
        return edges[-1], edges[-1]
    low, _, high = label[1:-1].partition(",")
    try:
        return float(low), float(high)
    except ValueError:
        return math.nan, math.nan


def _bounds(spec: WatchSpec, labels: Sequence[str]) -> np.ndarray | None:
    """One (low, high) row per label, or None for a categorical watch."""
    if spec.edges is None:
        return None
    return np.array([bin_bounds(label, spec.edges) for label in labels]).reshape(-1, 2)


def _order(spec: WatchSpec, labels: set[str]) -> list[str]:
    edges = spec.edges
    if edges is None:
        return sorted(labels)
    return sorted(labels, key=lambda label: (sum(bin_bounds(label, edges)), label))


def _binned_stats(bounds: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean (at bin midpoints) and median (interpolated in its bin) of binned counts."""
    shares = counts / counts.sum()
    mean = float((bounds.mean(axis=1) * shares).sum())
    cumulative = np.cumsum(shares)
    i = int(np.searchsorted(cumulative, 0.5))
    before = cumulative[i] - shares[i]
    low, high = bounds[i]
    return mean, float(low + (0.5 - before) / shares[i] * (high - low))


def _summary(labels: Sequence[str], counts: np.ndarray, spec: WatchSpec) -> SideSummary:
    bins = {label: float(c) for label, c in zip(labels, counts, strict=True)}
    total = float(counts.sum())
    bounds = _bounds(spec, labels)
    if bounds is None or total <= 0.0:
        return SideSummary(total, bins)
    known = np.isfinite(bounds).all(axis=1)
    if not counts[known].sum():
        return SideSummary(total, bins)
    mean, median = _binned_stats(bounds[known], counts[known])
    return SideSummary(total, bins, mean, median)


def shift(canary: np.ndarray, baseline: np.ndarray) -> float:
    """P(a canary value lies in a higher bin than a baseline value) minus P(lower).

    The two-sample rank comparison (Mann-Whitney's effect size) on ordered
    bins, values in the same bin tied: +1 all slower, -1 all faster, 0 the same.
    A binned mean would hang on where the last, widest bin's values lie.

    >>> shift(np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0]))
    0.75
    """
    q, p = canary / canary.sum(), baseline / baseline.sum()
    below = np.cumsum(p) - p
    return float((q * (below - (1.0 - np.cumsum(p)))).sum())


def _missing(side: str, count: float, needed: int) -> str:
    return f"{side} has {round(count):,} values of the {needed:,} needed"


def _moved(
    labels: Sequence[str], canary: np.ndarray, baseline: np.ndarray
) -> list[tuple[str, float, float]]:
    q, p = canary / canary.sum(), baseline / baseline.sum()
    order = np.argsort(-np.abs(q - p), kind="stable")[:_MOVED]
    return [(labels[i], float(q[i]), float(p[i])) for i in order if q[i] != p[i]]


def _moved_text(moved: list[tuple[str, float, float]]) -> str:
    """The bins that grew (a new error status, a slower latency range) come first."""
    grown = sorted(moved, key=lambda each: each[1] <= each[2])
    return ", ".join(f"{label}: {q:.1%} vs {p:.1%}" for label, q, p in grown[:2])


def judge(
    spec: WatchSpec,
    canary: Mapping[str, float],
    baseline: Mapping[str, float],
    alpha: float = WARNING_ALPHA,
) -> Judgement:
    """The verdict for one watched value from each side's counts per bin label."""
    labels = _order(spec, set(canary) | set(baseline))
    c = np.array([max(0.0, canary.get(label, 0.0)) for label in labels])
    b = np.array([max(0.0, baseline.get(label, 0.0)) for label in labels])
    sides = (_summary(labels, c, spec), _summary(labels, b, spec))
    short = [
        _missing(name, side.count, spec.needed)
        for name, side in zip(("canary", "baseline"), sides, strict=True)
        if side.count < max(spec.needed, 1)
    ]
    if short:
        return Judgement(spec, INCONCLUSIVE, "; ".join(short), *sides)
    expected = b / b.sum()
    method = METHODS[spec.method]
    assert method.score is not None  # WatchSpec only names methods with a window score
    bounds = _bounds(spec, labels) if method.uses_points else None
    points = None if bounds is None else bounds.mean(axis=1)
    m = round(float(b.sum()))
    score = method.score(expected, c, WindowInputs(points, spec.scale, m, alpha)).score
    p = p_value(expected, c, m)
    moved = _moved(labels, c, b)
    moved_by = shift(c, b) if spec.edges is not None else None

    def judged(verdict: str, reason: str) -> Judgement:
        return Judgement(spec, verdict, reason, *sides, score, p, moved_by, moved)

    measure = f"{spec.method} {score:.3g}"
    if score < spec.materiality:
        return judged(PASS, f"no material change: {measure} < {spec.materiality:g} (p = {p:.2g})")
    if p > alpha:
        return judged(
            INCONCLUSIVE,
            f"material ({measure} >= {spec.materiality:g}) but not significant "
            f"(p = {p:.2g} > {alpha:g}): more data decides",
        )
    direction = ""
    if spec.slower_is_bad and moved_by is not None:
        unit = f" {spec.unit}" if spec.unit else ""
        medians = (
            f"median {sides[0].median or 0.0:.4g}{unit} vs {sides[1].median or 0.0:.4g}{unit}, "
            f"shift {moved_by:+.2f}"
        )
        if moved_by <= 0.0:
            return judged(PASS, f"faster, which is fine: {measure}, p = {p:.2g}, {medians}")
        direction = f"slower: {medians}; "
    return judged(
        FAIL, f"{measure} >= {spec.materiality:g}, p = {p:.2g}; {direction}{_moved_text(moved)}"
    )


def overall(verdicts: Iterable[str]) -> str:
    """FAIL if any value failed, else INCONCLUSIVE if any was (or none was judged), else PASS.

    >>> overall([]), overall([PASS, INCONCLUSIVE]), overall([PASS, FAIL]), overall([PASS])
    ('INCONCLUSIVE', 'INCONCLUSIVE', 'FAIL', 'PASS')
    """
    found = set(verdicts)
    if FAIL in found:
        return FAIL
    if INCONCLUSIVE in found or not found:
        return INCONCLUSIVE
    return PASS
