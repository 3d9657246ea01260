"""Pearson chi-square goodness-of-fit test of observed counts vs the baseline.

With ``o_i`` the observed counts, ``n`` their total and ``e_i`` the baseline
fractions::

    X^2 = sum_i (o_i - n e_i)^2 / (n e_i),    p = Q(dof / 2, X^2 / 2)

where ``Q(a, x) = Gamma(a, x) / Gamma(a)`` is the regularized upper incomplete
gamma function (the chi-square survival function, ``scipy.stats.chi2.sf``),
computed here without scipy: by its power series for ``x < a + 1``, by its
continued fraction (modified Lentz) otherwise, as in Numerical Recipes 6.2.

Smoothing of bins with a zero (or tiny) baseline fraction:

* a bin empty on *both* sides (an overflow bin or an "other" category nobody
  used) is dropped: under the baseline it has probability 0, so it is not a
  degree of freedom, and any floor put on it would add ``n * eps`` of
  fabricated evidence that grows with the window size;
* a bin with observed counts gets its baseline fraction floored at
  ``eps = 1e-4`` (then all fractions are renormalised), so mass where the
  baseline has none gives a large but finite statistic instead of infinity.

``dof`` is the number of bins kept minus 1, which is ``bins - 1`` whenever the
baseline has no empty bin. Without empty or tiny baseline bins the result is
exactly ``scipy.stats.chisquare(observed, n * expected)``.

>>> import numpy as np
>>> rng = np.random.default_rng(4)
>>> expected = np.array([0.5, 0.3, 0.2, 0.0])
>>> observed = rng.multinomial(300, [0.5, 0.3, 0.2, 0.0]).astype(float)
>>> r = chi_square(expected, observed)
>>> round(r.score, 4), round(r.p_value, 4)
(4.6233, 0.0991)
"""

from __future__ import annotations

import math

import numpy as np

from ._inputs import FloatArray, fractions
from .method import CRITICAL_ALPHA, WARNING_ALPHA, MethodInfo
from .result import DetectorResult

#: Floor on the baseline fraction of a bin that has observed counts.
CHI_SQUARE_EPS = 1e-4

_REL_TOL = 1e-16
_TINY = 1e-300
# Both expansions converge in O(sqrt(a)) terms in their own region; the cap is
# only a guard against an infinite loop on pathological input.
_MAX_TERMS = 100_000


def _log_prefactor(a: float, x: float) -> float:
    """``ln(x^a e^-x / Gamma(a))``, the factor both expansions share.

    Summing three terms of size ``a ln a`` costs about ``1e-16 * a ln a`` of
    absolute accuracy: under 1e-11 for the few thousand bins a window can have.
    """
    return a * math.log(x) - x - math.lgamma(a)


def _lower_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma ``P(a, x)`` by its power series."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_TERMS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _REL_TOL:
            break
    return total * math.exp(_log_prefactor(a, x))


def _upper_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma ``Q(a, x)`` by its continued fraction."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _REL_TOL:
            break
    return h * math.exp(_log_prefactor(a, x))


def regularized_gamma_q(a: float, x: float) -> float:
    """``Q(a, x) = Gamma(a, x) / Gamma(a)`` for ``a > 0``, ``x >= 0``."""
    if a <= 0.0 or x < 0.0:
        raise ValueError(f"need a > 0 and x >= 0, got a={a}, x={x}")
    if x == 0.0:
        return 1.0
    if x < a + 1.0:
        # Here P is not close to 1, so 1 - P loses no significant digits.
        return min(1.0, max(0.0, 1.0 - _lower_series(a, x)))
    return min(1.0, max(0.0, _upper_fraction(a, x)))


def chi2_sf(statistic: float, dof: int) -> float:
    """Chi-square survival function; ``dof = 0`` (a single bin) gives 1."""
    if dof <= 0:
        return 1.0
    return regularized_gamma_q(0.5 * dof, max(0.0, 0.5 * statistic))


def chi_square(expected: FloatArray, observed: FloatArray) -> DetectorResult:
    """Pearson's statistic (as ``score``) and p-value of ``observed`` vs ``expected``."""
    e, _, n = fractions(expected, observed)
    counts = np.asarray(observed, dtype=np.float64)
    kept = (e > 0.0) | (counts > 0.0)
    e, counts = e[kept], counts[kept]
    e = np.where(counts > 0.0, np.maximum(e, CHI_SQUARE_EPS), e)
    e = e / e.sum()
    expected_counts = n * e
    statistic = float(np.sum((counts - expected_counts) ** 2 / expected_counts))
    return DetectorResult(score=statistic, p_value=chi2_sf(statistic, int(kept.sum()) - 1))


METHOD = MethodInfo(
    name="chi_square",
    numeric=True,
    categorical=True,
    # The significance gate's levels (detectors/significance.py): a test
    # method's thresholds *are* its significance levels.
    warning=WARNING_ALPHA,
    critical=CRITICAL_ALPHA,
    threshold_kind="alpha",
    score=lambda expected, observed, _: chi_square(expected, observed),
)
