"""Is a window's deviation from its baseline real? One p-value for every binned method.

A distance (psi, jensen_shannon, hellinger, linf, wasserstein) says how *much*
a window moved; on a small window, noise alone moves it a lot (5 errors in
200 requests under a 1 % baseline is chance). So a status rises to a level
only when the score reaches the user's threshold (material) *and* the window
is significantly unlike the baseline at that level (real). This module gives
the second half: the p-value of "this window was drawn from the baseline".

The test. psi, Jensen-Shannon and squared Hellinger are f-divergences; near
the baseline each is a constant times Pearson's chi-square distance, so
``n * D`` tends to ``c * X^2 / n`` with ``X^2 ~ chi2(k - 1)``: their null
distributions *are* Pearson's (psi ``c = 1``, JS and Hellinger² ``c = 1/8``).
linf and wasserstein have no closed null; they use the same omnibus test,
which asks the same question of the same counts. The asymptotic form only
holds where expected counts are not small, so:

* bins whose expected count ``n p_i`` is below :data:`MIN_EXPECTED` are pooled
  into one sparse bin (the usual rule for Pearson's test);
* if the pooled sparse bin is itself still below it, it is tested exactly
  instead (its count against a binomial, or, when the baseline came from
  ``m`` values, the conditional binomial of the two-sample comparison:
  ``x | x + y ~ Bin(x + y, n / (n + m))``), the rest by Pearson, and the two
  p-values are combined by Bonferroni (twice the smaller);
* a baseline from a finite sample of ``m`` values is itself noisy: the test
  is then the two-sample one (homogeneity of the window and the reference,
  each against their pooled shares), and the sparse rule reads the pooled
  shares at the smaller of the two sizes.

The default levels come from a false-alarm budget. A service with 100
watched values, each closing one window a minute, runs 100 x 60 x 24 x 7 =
1,008,000 window tests a week and 52.6 million a year. A warning at
``p <= 1e-6`` then false-alarms about once a week (1.0 expected), a critical
at ``p <= 1e-9`` about once in 19 years (0.05 a year). A status is raised
by one window (hysteresis ``raise_after: 1``) and cleared after two below, so
these are rates of *raises*; a raised status is shown for at least two
windows, which doubles the share of windows that show it, not the number of
alarms. A partial window (closed at shutdown) is tested at its own size, so
it is held to the same rate.

>>> import numpy as np
>>> baseline = np.array([0.99, 0.01])
>>> round(p_value(baseline, np.array([195.0, 5.0]), None), 3)   # 5 errors in 200
0.053
>>> p_value(baseline, np.array([175.0, 25.0]), None) < 1e-9      # 25 in 200
True
>>> rng = np.random.default_rng(3)
>>> expected = np.full(10, 0.1)
>>> same = rng.multinomial(1000, expected).astype(float)
>>> round(p_value(expected, same, 100_000), 3)
0.778
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np

from ._inputs import FloatArray, fractions
from .gamma import chi2_sf, regularized_gamma_q
from .method import CRITICAL_ALPHA, WARNING_ALPHA

#: Bins expected to hold fewer values than this are pooled (Cochran's rule).
MIN_EXPECTED = 5.0
#: Beyond this many trials the exact binomial sum gives way to its Poisson form.
_EXACT_TRIALS = 100_000


def significance_level(p: float | None) -> int:
    """0, 1 or 2: the highest level at which ``p`` is significant (None: 2).

    A method with no p-value of its own (CUSUM, calibrated by its own interval)
    is not held back by this gate.

    >>> significance_level(0.5), significance_level(1e-7), significance_level(1e-12)
    (0, 1, 2)
    """
    if p is None:
        return 2
    if p <= CRITICAL_ALPHA:
        return 2
    return 1 if p <= WARNING_ALPHA else 0


def p_value(expected: FloatArray, observed: FloatArray, baseline_samples: int | None) -> float:
    """P-value of the ``observed`` counts under the ``expected`` fractions.

    ``baseline_samples``: the size of the sample the baseline was measured on,
    or None when the baseline is declared (a population).
    """
    p, _, n = fractions(expected, observed)
    counts = np.asarray(observed, dtype=np.float64)
    m = float(baseline_samples) if baseline_samples else None
    size = n if m is None else min(n, m)
    sparse = size * p < MIN_EXPECTED
    if not sparse.any():
        return _omnibus(p, counts, n, m)
    pooled_p = float(p[sparse].sum())
    pooled_x = float(counts[sparse].sum())
    if size * pooled_p >= MIN_EXPECTED:
        # The pool is big enough to be one ordinary bin.
        p = np.append(p[~sparse], pooled_p)
        counts = np.append(counts[~sparse], pooled_x)
        return _omnibus(p, counts, n, m)
    tail = _sparse_tail(pooled_x, pooled_p, n, m)
    rest_n = n - pooled_x
    rest_p = p[~sparse]
    if rest_p.size < 2 or rest_n <= 0.0:
        return tail
    rest = _omnibus(rest_p / rest_p.sum(), counts[~sparse], rest_n, m)
    return min(1.0, 2.0 * min(tail, rest))


#: Windows a p-value pools at most: this one and the ones just before it.
POOLED_WINDOWS = 2


def window_p_value(
    expected: FloatArray,
    observed: FloatArray,
    before: Iterable[FloatArray],
    baseline_samples: int | None,
) -> float:
    """A window's p-value: alone, or pooled with the window just before it.

    A small window holds little evidence: a 1 % -> 6 % error rate in 200
    requests reaches p = 4e-6 at best, never the critical 1e-9. So the window
    is also tested pooled with the one before (``before``: the adjacent
    windows with the same bins, the latest first; ``POOLED_WINDOWS - 1`` of
    them are used), and the smallest p-value, times the number of tests
    (Bonferroni), is the window's: a change that persists reaches critical
    sooner, and the false-alarm budget per window holds. Pooling three
    windows was measured worse (a 5-point error spike at 200-span windows
    critical within 2 windows in 31 % of seeded runs against 34 % with two,
    /tmp/spike.py): the third window is from before the change, and it costs
    a third test.

    >>> e = np.array([0.99, 0.01])
    >>> spike, steady = np.array([188.0, 12.0]), np.array([198.0, 2.0])
    >>> [f"{window_p_value(e, spike, b, 5000):.0e}" for b in ([], [steady], [spike])]
    ['4e-06', '8e-06', '7e-10']
    """
    p = p_value(expected, observed, baseline_samples)
    tests = 1
    pooled = np.asarray(observed, dtype=np.float64)
    for window in itertools.islice(before, POOLED_WINDOWS - 1):
        if window.shape != pooled.shape:
            break
        pooled = pooled + window
        p = min(p, p_value(expected, pooled, baseline_samples))
        tests += 1
    return min(1.0, tests * p)


def gated_level(threshold_kind: str, method: str, material: int, p: float | None) -> int:
    """A window's level from its ``material`` level (score against thresholds) and ``p``.

    Distance methods: the lower of the two (a change must be material *and*
    real). ``chi_square``: its pooled p-value decides, once its own test
    passes. ``ks`` and CUSUM: their own level (calibrated by themselves).

    >>> gated_level("distance", "psi", 2, 1e-7), gated_level("alpha", "chi_square", 1, 1e-10)
    (1, 2)
    """
    if not material:
        return 0
    if threshold_kind == "distance":
        return min(material, significance_level(p))
    if method == "chi_square" and p is not None:
        return significance_level(p)
    return material


def _omnibus(p: FloatArray, counts: FloatArray, n: float, m: float | None) -> float:
    """The omnibus test on bins that all have a usable expected count.

    Pearson's ``X^2 = sum (o - e)^2 / e`` and Freeman-Tukey's
    ``T = sum (sqrt(o) + sqrt(o + 1) - sqrt(4 e + 1))^2`` share the chi-square
    limit, but not its far tail, where the levels live (1e-6): with expected
    counts near five, Pearson's skewed terms make an excess in one bin look
    up to 50 times rarer than it is, and Freeman-Tukey does the same for a
    deficit (a bin that stays empty). Each errs on the safe side where the
    other does not, so the larger of the two p-values is kept. A measured
    baseline adds its own noise: both statistics are divided by ``1 + n / m``.
    """
    if p.size < 2:
        return 1.0
    e = n * p
    pearson = float(np.sum((counts - e) ** 2 / e))
    freeman_tukey = float(
        np.sum((np.sqrt(counts) + np.sqrt(counts + 1.0) - np.sqrt(4.0 * e + 1.0)) ** 2)
    )
    statistic = min(pearson, freeman_tukey)
    if m is not None:
        statistic /= 1.0 + n / m
    return chi2_sf(statistic, p.size - 1)


def _sparse_tail(x: float, share: float, n: float, m: float | None) -> float:
    """P(at least ``x`` values fall in bins of baseline ``share``), exactly.

    With a measured baseline (``m`` values, so ``y = share * m`` of them in
    these bins) the two counts are compared given their sum; with a declared
    one, ``x`` is binomial(n, share), here in its Poisson form (share is small:
    the pool's expected count is under five).
    """
    if x <= 0.0:
        return 1.0
    if m is None:
        if share <= 0.0:
            return 0.0
        # P(Poisson(n share) >= x) = 1 - Q(x, n share).
        return 1.0 - regularized_gamma_q(x, n * share)
    y = share * m
    return _binomial_upper(x, x + y, n / (n + m))


def _binomial_upper(x: float, trials: float, prob: float) -> float:
    """P(Bin(trials, prob) >= x), summing the exact terms from ``x`` up."""
    k0 = math.ceil(x - 1e-9)
    total = math.floor(trials + 0.5)
    if k0 > total:
        return 0.0
    if prob >= 1.0:
        return 1.0
    if total > _EXACT_TRIALS:
        return 1.0 - regularized_gamma_q(float(k0), total * prob)
    log_p, log_q = math.log(prob), math.log1p(-prob)
    log_n = math.lgamma(total + 1)

    def log_term(k: int) -> float:
        return (
            log_n
            - math.lgamma(k + 1)
            - math.lgamma(total - k + 1)
            + k * log_p
            + (total - k) * log_q
        )

    first = log_term(k0)
    result = 0.0
    for k in range(k0, total + 1):
        term = math.exp(log_term(k) - first)
        result += term
        if term < 1e-17 * result and k > total * prob:
            break
    return min(1.0, math.exp(first) * result)
