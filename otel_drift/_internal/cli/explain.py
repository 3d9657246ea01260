"""``otel-drift validate --explain``: what each watched value's thresholds mean, by simulation.

A threshold such as ``psi 0.05`` says little on its own: how often does it
false-alarm, and what change does it catch, at this window's size? Both are
answered here from the baseline itself, by Monte Carlo with a fixed seed:

* Windows are drawn from the baseline: counts ~ Multinomial(n, baseline
  shares) (the baseline taken as the truth; a numeric value is uniform within
  each bin). Each window is judged as the engine judges it: the method's own
  scorer from ``detectors`` (its row kernel, or ``evaluate``), its thresholds
  (``detectors.level``), and the significance gate (``detectors.significance``:
  the p-value alone or pooled with the window before, doubled; the level is
  the lower of the material and the significant one). :class:`Judge` holds
  that composition, which mirrors ``engine/watch_state.py``'s
  ``finish_window`` (the CLI may not import the engine;
  tests/test_cli_explain.py checks the two agree window by window). CUSUM is
  run on raw values drawn the same way, through ``detectors.cusum``.
* False alarms: the share of :data:`NULL_WINDOWS` consecutive stationary
  windows at warning or worse, and at critical. A rate far below
  ``1 / NULL_WINDOWS`` cannot be seen by simulation; where none was seen, the
  rate shown is the bound the test's own level gives (the significance gate's
  1e-6 / 1e-9, or a test method's alpha), else the simulation's 95 % upper
  bound (3 / windows). Rates are per window, before hysteresis.
* Smallest change: the change that reaches warning (critical) in at least
  :data:`POWER` of :data:`POWER_WINDOWS` first windows after it (the window
  before it unchanged, as the pooled test sees it), found by bisection
  (:data:`BISECTION_STEPS` steps, after bracketing) with the same draws at
  every step. A numeric value on a non-negative range is scaled (latency
  x1.09: "a 9 % increase"), any other numeric value shifted by a multiple of
  its baseline standard deviation; for a categorical value, its smallest
  non-dominant category's share grows (others shrink in proportion), or,
  with one category only, a value outside the baseline appears.

Measured cost: a file of 60 watched values (30 binned, 30 categorical, psi
and jensen_shannon, windows of 1,000) takes 3.9 s of CPU, nearly all of it
p-values of windows near the detection boundary (bisection steps far from it
stop after 20 windows: ``_decide``). CUSUM draws raw values: about 0.5 s a
watched value at windows of 1,000, 1.5 s at 10,000.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from otel_drift._internal.detectors import (
    METHODS,
    Cusum,
    DetectorResult,
    evaluate,
    level,
    unit_scale,
)
from otel_drift._internal.detectors.cusum import normal_scores, reference_allowance
from otel_drift._internal.detectors.method import CRITICAL_ALPHA, WARNING_ALPHA
from otel_drift._internal.detectors.significance import (
    gated_level,
    p_value,
    significance_level,
    window_p_value,
)
from otel_drift._internal.expectations.model import (
    BinnedBaseline,
    CategoricalBaseline,
    Watch,
)
from otel_drift._internal.expectations.noise import WindowVectors

#: Stationary windows simulated per watched value (a sequence, as the pooling sees it).
NULL_WINDOWS = 400
#: First windows after a change simulated per bisection step.
POWER_WINDOWS = 200
#: The detection probability a change must reach within one window.
POWER = 0.5
#: Bisection steps after the change is bracketed, at most: it stops once the
#: bracket is narrower than :data:`RESOLUTION` (a factor's log: 0.3 % of the
#: value; standard deviations; a share's log: 0.3 % of the share).
BISECTION_STEPS = 9
RESOLUTION = 0.003
#: CUSUM runs on raw values: at most this many are drawn per simulation.
MAX_RAW_VALUES = 1_000_000
#: The label of values outside a categorical baseline (as the engine names them).
OTHER = "__other__"
SEED = 0
#: A bisection step stops early when the share of windows that reached the
#: level is this many standard errors from :data:`POWER`, checked every chunk.
SEQUENTIAL_Z = 3.3
SEQUENTIAL_CHUNK = 20

Floats = NDArray[np.float64]


class Judge:
    """One watched value's window verdict, composed as the engine composes it."""

    def __init__(self, watch: Watch) -> None:
        baseline = watch.baseline
        self.method = watch.method
        self.info = METHODS[watch.method]
        self.warning = watch.warning
        self.critical = watch.critical
        if baseline is None:
            raise ValueError("only a watched value with a baseline is judged")
        self.samples = baseline.samples
        # The baseline's vectors as the engine builds them (layout, points, scale).
        vectors = WindowVectors(baseline)
        self.expected = vectors.expected
        self.points = vectors.points
        self.scale = vectors.scale
        #: Distance methods are gated by significance; chi_square's level is its
        #: pooled significance (both as in ``WatchState.finish_window``).
        self.gated = self.info.threshold_kind == "distance"

    def results(self, counts: Floats) -> list[DetectorResult]:
        """The detector's result for each row of ``counts`` (one window a row)."""
        if self.info.rows is not None:
            p = self.expected / self.expected.sum()
            width = p.size
            gaps = np.zeros((counts.shape[0], width - 1))
            scale = 1.0
            if self.info.uses_points and self.points is not None:
                gaps[:] = np.diff(self.points)
                scale = unit_scale(self.scale)
            totals = counts.sum(axis=1)
            q = counts / totals[:, None]
            scores = self.info.rows(np.broadcast_to(p, q.shape), q, gaps, totals) / scale
            return [DetectorResult(score=float(s)) for s in scores]
        return [
            evaluate(
                self.method,
                self.expected,
                row,
                points=self.points,
                scale=self.scale,
                baseline_samples=self.samples,
                alpha=self.warning,
            )
            for row in counts
        ]

    def material(self, counts: Floats) -> NDArray[np.int64]:
        """The level each window's result reaches against the thresholds alone."""
        kind = self.info.threshold_kind
        return np.array(
            [level(kind, r, self.warning, self.critical) for r in self.results(counts)],
            dtype=np.int64,
        )

    def window_p(self, current: Floats, previous: Floats | None) -> float:
        """The window's p-value: alone, or with the window before, the smaller doubled."""
        before = () if previous is None else (previous,)
        return window_p_value(self.expected, current, before, self.samples)

    def window_level(self, material: int, current: Floats, previous: Floats | None) -> int:
        """The window's level as ``finish_window`` sets it (before hysteresis)."""
        if material == 0 or not (self.gated or self.method == "chi_square"):
            return material
        p = self.window_p(current, previous)
        return gated_level(self.info.threshold_kind, self.method, material, p)

    def reaches(self, target: int, material: int, current: Floats, previous: Floats) -> bool:
        """``window_level(...) >= target``; the pooled test is skipped when the
        window alone settles it."""
        if material < (1 if self.method == "chi_square" else target):
            return False
        if not (self.gated or self.method == "chi_square"):
            return True
        alpha = WARNING_ALPHA if target == 1 else CRITICAL_ALPHA
        alone = p_value(self.expected, current, self.samples)
        if 2.0 * alone <= alpha:
            return True
        if self.gated and material < target:
            return False
        return significance_level(self.window_p(current, previous)) >= target


@dataclass(frozen=True)
class Rate:
    """False alarms of one level, per window."""

    seen: int
    windows: int
    #: The rate shown: the simulated one, or a bound when none was seen.
    rate: float
    #: Where ``rate`` comes from, in words.
    basis: str


@dataclass(frozen=True)
class Change:
    """The smallest change reaching a level in at least :data:`POWER` of first windows."""

    #: The magnitude (log scale, sigmas, or log share); None: not reached in range.
    magnitude: float | None
    text: str


@dataclass(frozen=True)
class Explanation:
    """What one watched value's thresholds mean at one window size."""

    false_warning: Rate
    false_critical: Rate
    warning_change: Change
    critical_change: Change
    null_windows: int


def explain_watch(watch: Watch, window: int) -> Explanation:
    """Simulate ``watch``'s windows of ``window`` values (see the module docstring)."""
    judge = Judge(watch)
    model = ChangeModel(watch)
    detects: Callable[[float, int], bool]
    if watch.method == "cusum":
        assert isinstance(watch.baseline, BinnedBaseline)  # cusum is numeric only
        run = _CusumRun(watch, watch.baseline, model, window)
        null_levels = run.null_levels()
        detects = run.detects
    else:
        null_levels = _null_levels(judge, model.shares(model.zero), window)
        detects = _PowerRun(judge, model, window).detects
    windows = int(null_levels.size)
    warning = _smallest(lambda m: detects(m, 1), model.zero, model.high)
    critical = _smallest(lambda m: detects(m, 2), warning or model.zero, model.high)
    return Explanation(
        _rate(int((null_levels >= 1).sum()), windows, _bound(judge, 1)),
        _rate(int((null_levels >= 2).sum()), windows, _bound(judge, 2)),
        Change(warning, model.describe(warning)),
        Change(critical, model.describe(critical)),
        windows,
    )


# -- the change -------------------------------------------------------------------


class ChangeModel:
    """A change of one magnitude, as window shares in the engine's layout, and in words.

    Numeric, non-negative range: magnitude ``log(factor)``, every value times
    the factor. Other numeric: magnitude in baseline standard deviations,
    added. Categorical: magnitude ``log(share)`` of the explained category.
    """

    def __init__(self, watch: Watch) -> None:
        baseline = watch.baseline
        self.noun = "latency" if watch.source.kind == "span.duration" else "value"
        if isinstance(baseline, CategoricalBaseline):
            self.categorical = True
            self.base = np.array([*baseline.categories.values(), 0.0])
            self.base /= self.base.sum()
            self.category, share = _explained_category(baseline)
            names = list(baseline.categories)
            self.index = names.index(self.category) if self.category in names else len(names)
            self.share = share
            # A share of 0 (a new value) starts from half a value a window.
            self.zero = math.log(share) if share > 0.0 else math.log(0.5 / 1e6)
            self.high = 0.0
            return
        assert isinstance(baseline, BinnedBaseline)  # only values with a baseline get here
        self.categorical = False
        self.edges = np.array(baseline.edges)
        cdf = np.concatenate(([0.0], np.cumsum(baseline.fractions)))
        self.cdf = cdf / cdf[-1]
        self.positive = baseline.edges[0] >= 0.0
        self.std = baseline.std if baseline.std > 0.0 else 1.0
        self.zero = 0.0
        self.high = math.log(16.0) if self.positive else 8.0

    def shares(self, magnitude: float) -> Floats:
        if self.categorical:
            if magnitude <= self.zero:
                return self.base
            share = min(1.0, math.exp(magnitude))
            rest = np.delete(self.base, self.index)
            if rest.sum() > 0.0:
                rest = rest / rest.sum() * (1.0 - share)
            return np.insert(rest, self.index, share)
        # Where each edge's values came from before the change (uniform within bins).
        if self.positive:
            origin = self.edges / math.exp(magnitude)
        else:
            origin = self.edges - magnitude * self.std
        below = np.interp(origin, self.edges, self.cdf, left=0.0, right=1.0)
        shares: Floats = np.concatenate(([below[0]], np.diff(below), [1.0 - below[-1]]))
        return np.clip(shares, 0.0, None)

    def values(self, uniforms: Floats, magnitude: float) -> Floats:
        """Raw values (numeric only): the baseline's quantiles of ``uniforms``, changed."""
        values: Floats = np.interp(uniforms, self.cdf, self.edges)
        if self.positive:
            return values * math.exp(magnitude)
        return values + magnitude * self.std

    def describe(self, magnitude: float | None) -> str:
        if self.categorical:
            if magnitude is None:
                return f"not reached even at {self.category}: {self.share:.1%} -> 100%"
            return f"{self.category}: {self.share:.1%} -> {math.exp(magnitude):.1%}"
        if self.positive:
            if magnitude is None:
                return f"not reached by a {self.noun} increase up to x{math.exp(self.high):g}"
            factor = math.exp(magnitude)
            return f"a {(factor - 1.0) * 100:.1f} % {self.noun} increase (x{factor:.3f})"
        if magnitude is None:
            return f"not reached by a {self.noun} shift up to {self.high:g} standard deviations"
        return (
            f"a {self.noun} shift of +{magnitude:.2f} standard deviations "
            f"(+{magnitude * self.std:.3g})"
        )


def _explained_category(baseline: CategoricalBaseline) -> tuple[str, float]:
    """The smallest non-dominant category (the 500 of 200/404/500), else a new value."""
    ranked = sorted(baseline.categories.items(), key=lambda item: item[1])
    dominant = ranked[-1][0]
    for name, share in ranked:
        if share > 0.0 and name != dominant:
            return name, share
    return OTHER, 0.0


# -- simulation -------------------------------------------------------------------


def _null_levels(judge: Judge, shares: Floats, window: int) -> NDArray[np.int64]:
    """Levels of :data:`NULL_WINDOWS` consecutive stationary windows."""
    rng = np.random.default_rng(SEED)
    counts = rng.multinomial(window, shares, size=NULL_WINDOWS).astype(np.float64)
    material = judge.material(counts)
    levels = np.zeros(NULL_WINDOWS, dtype=np.int64)
    for i in np.flatnonzero(material):
        previous = counts[i - 1] if i > 0 else None
        levels[i] = judge.window_level(int(material[i]), counts[i], previous)
    return levels


class _PowerRun:
    """First windows after a change, each after an unchanged one; the same draws at every step."""

    def __init__(self, judge: Judge, model: ChangeModel, window: int) -> None:
        self.judge = judge
        self.model = model
        self.window = window
        rng = np.random.default_rng(SEED + 1)
        stationary = model.shares(model.zero)
        self.previous = rng.multinomial(window, stationary, size=POWER_WINDOWS).astype(np.float64)

    def detects(self, magnitude: float, target: int) -> bool:
        """Whether at least :data:`POWER` of the first windows reach ``target``."""
        rng = np.random.default_rng(SEED + 2)
        shares = self.model.shares(magnitude)
        current = rng.multinomial(self.window, shares, size=POWER_WINDOWS).astype(np.float64)
        material = self.judge.material(current).tolist()
        reaches = self.judge.reaches
        previous = self.previous
        return _decide(
            (reaches(target, material[i], current[i], previous[i]) for i in range(POWER_WINDOWS)),
            POWER_WINDOWS,
        )


class _CusumRun:
    """CUSUM on raw values, as the engine feeds it (normal scores through the baseline)."""

    def __init__(
        self, watch: Watch, baseline: BinnedBaseline, model: ChangeModel, window: int
    ) -> None:
        self.watch = watch
        self.model = model
        self.window = window
        self.edges = np.array(baseline.edges)
        self.fractions = np.array(baseline.fractions)
        self.k = reference_allowance(watch.cusum_k, baseline.samples)
        self.windows = max(20, min(NULL_WINDOWS, MAX_RAW_VALUES // max(window, 1)))
        self.power_windows = max(20, min(POWER_WINDOWS, MAX_RAW_VALUES // max(window, 1)))
        rng = np.random.default_rng(SEED + 3)
        self.uniforms = rng.random((self.power_windows, window))

    def _level(self, highest: float) -> int:
        result = DetectorResult(score=highest)
        return level("h", result, self.watch.warning, self.watch.critical)

    def null_levels(self) -> NDArray[np.int64]:
        rng = np.random.default_rng(SEED)
        cusum = Cusum(0.0, 1.0, self.k)
        levels = np.zeros(self.windows, dtype=np.int64)
        for i in range(self.windows):
            values = self.model.values(rng.random(self.window), 0.0)
            update = cusum.update(normal_scores(values, self.edges, self.fractions))
            levels[i] = self._level(update.max_statistic)
            if levels[i] == 2:
                cusum.reset()  # the engine re-arms after an alarm
        return levels

    def detects(self, magnitude: float, target: int) -> bool:
        outcomes = (self._reaches(i, magnitude, target) for i in range(self.power_windows))
        return _decide(outcomes, self.power_windows)

    def _reaches(self, i: int, magnitude: float, target: int) -> bool:
        # Each first window starts from a quiet CUSUM (statistic 0).
        cusum = Cusum(0.0, 1.0, self.k)
        values = self.model.values(self.uniforms[i], magnitude)
        update = cusum.update(normal_scores(values, self.edges, self.fractions))
        return self._level(update.max_statistic) >= target


def _decide(outcomes: Iterator[bool], total: int) -> bool:
    """Whether at least :data:`POWER` of ``total`` windows (``outcomes``) reached the level.

    Reads only as many as it needs: it stops when the rest cannot change the
    answer, or, every :data:`SEQUENTIAL_CHUNK` windows, when the share so far
    is more than :data:`SEQUENTIAL_Z` standard errors from :data:`POWER` (a
    change far from the answer settles in 20 windows, not 200).
    """
    need = math.ceil(POWER * total)
    seen = 0
    for judged, hit in enumerate(outcomes, 1):
        seen += hit
        if seen >= need or seen + total - judged < need:
            break
        if judged % SEQUENTIAL_CHUNK == 0:
            spread = SEQUENTIAL_Z * math.sqrt(POWER * (1.0 - POWER) * judged)
            if abs(seen - POWER * judged) > spread:
                return seen > POWER * judged
    return seen >= need


# -- search and rates -------------------------------------------------------------


def _smallest(detects: Callable[[float], bool], low: float, high: float) -> float | None:
    """The smallest magnitude in (low, high] that ``detects``: bracketed, then bisected.

    The bracket grows from a sixteenth of the range: far-off steps settle after
    few windows, so they cost little.
    """
    if not detects(high):
        return None
    lower, upper = low, high
    for fraction in (1 / 16, 1 / 8, 1 / 4, 1 / 2):
        point = low + (high - low) * fraction
        if detects(point):
            upper = point
            break
        lower = point
    for _ in range(BISECTION_STEPS):
        if upper - lower <= RESOLUTION:
            break
        middle = (lower + upper) / 2.0
        if detects(middle):
            upper = middle
        else:
            lower = middle
    return (lower + upper) / 2.0


def _bound(judge: Judge, target: int) -> tuple[float, str] | None:
    """The per-window rate a level's own test guarantees, if it has one."""
    alpha = WARNING_ALPHA if target == 1 else CRITICAL_ALPHA
    if judge.gated or judge.method == "chi_square":
        return alpha, "the significance gate's level"
    if judge.info.threshold_kind == "alpha":
        return (judge.warning if target == 1 else judge.critical), "the test's alpha"
    return None


def _rate(seen: int, windows: int, bound: tuple[float, str] | None) -> Rate:
    if seen:
        return Rate(seen, windows, seen / windows, f"{seen} in {windows} simulated windows")
    upper = 3.0 / windows
    if bound is not None and bound[0] < upper:
        return Rate(0, windows, bound[0], f"none in {windows} simulated windows; {bound[1]}")
    return Rate(0, windows, upper, f"none in {windows} simulated windows; 95 % upper bound")
