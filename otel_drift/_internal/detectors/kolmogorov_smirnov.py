"""Two-sample Kolmogorov-Smirnov test on binned data.

With ``P_j`` and ``Q_j`` the cumulative baseline and observed fractions at the
upper boundary of bin ``j``::

    D = max_j |Q_j - P_j|

Between boundaries both empirical CDFs are flat, so on the boundaries the
maximum is exact for the binned data. The p-value is asymptotic::

    p = Q_KS(lambda),   lambda = D * sqrt(n_e),
    Q_KS(lambda) = 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2)

(``scipy.special.kolmogorov``), with ``n`` the observed total and ``n_e = n``
when the baseline is a population (``baseline_samples=None``), else
``n_e = n m / (n + m)`` for a baseline of ``m`` samples. ``critical_value`` is
``Q_KS^{-1}(alpha) / sqrt(n_e)`` (``scipy.special.kolmogi``), found by
bisecting the same ``Q_KS`` down to adjacent floats, so ``p <= alpha`` exactly
when ``D >= critical_value`` (up to one rounding of ``D * sqrt(n_e)``).

Binning creates ties, which make this p-value conservative (too large): a
reported rejection is trustworthy, a non-rejection on coarse bins is weak.
No smoothing is needed: empty bins just leave the CDFs flat.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> expected = np.array([0.2, 0.3, 0.3, 0.2])
>>> observed = rng.multinomial(500, [0.1, 0.3, 0.35, 0.25]).astype(float)
>>> r = ks(expected, observed, baseline_samples=None, alpha=0.05)
>>> round(r.score, 4), f"{r.p_value:.2e}", round(r.critical_value, 4)
(0.114, '4.54e-06', 0.0607)
"""

from __future__ import annotations

import math

import numpy as np

from ._inputs import FloatArray, fractions
from .method import CRITICAL_ALPHA, WARNING_ALPHA, MethodInfo
from .result import DetectorResult

# Below this lambda the alternating series converges slowly and loses digits
# to cancellation; the Jacobi-theta form of the CDF converges fast there.
# (scipy uses the same kind of switch, near 0.82.)
_CUTOVER = 0.82
_SQRT_2PI = math.sqrt(2.0 * math.pi)
# Both series are summed until a term is below this, relative to 1.
_TERM_TOL = 1e-18


def kolmogorov_sf(lam: float) -> float:
    """Survival function ``Q_KS(lambda)`` of the limiting Kolmogorov distribution."""
    if lam <= 0.0:
        return 1.0
    if lam < _CUTOVER:
        # CDF = sqrt(2 pi)/lambda * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 lambda^2))
        c = math.pi**2 / (8.0 * lam * lam)
        cdf = 0.0
        k = 1
        while True:
            term = math.exp(-((2 * k - 1) ** 2) * c)
            cdf += term
            if term < _TERM_TOL:
                break
            k += 1
        return min(1.0, max(0.0, 1.0 - _SQRT_2PI / lam * cdf))
    total = 0.0
    sign = 1.0
    k = 1
    while True:
        term = math.exp(-2.0 * k * k * lam * lam)
        total += sign * term
        if term < _TERM_TOL:
            break
        sign = -sign
        k += 1
    return min(1.0, max(0.0, 2.0 * total))


def kolmogorov_isf(alpha: float) -> float:
    """The ``lambda`` with ``Q_KS(lambda) = alpha``: the smallest float with ``Q_KS <= alpha``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    # Q_KS is bounded by its first term 2 exp(-2 lambda^2), which gives a bracket.
    lo, hi = 0.0, math.sqrt(math.log(2.0 / alpha) / 2.0) + 1.0
    # Bisect to adjacent floats (about 60 steps), keeping Q_KS(hi) <= alpha, so
    # that the critical value and the p-value can never disagree by more than a
    # rounding.
    while True:
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            return hi
        if kolmogorov_sf(mid) <= alpha:
            hi = mid
        else:
            lo = mid


def ks(
    expected: FloatArray, observed: FloatArray, baseline_samples: int | None, alpha: float
) -> DetectorResult:
    """KS statistic, asymptotic p-value and critical value at ``alpha``.

    ``baseline_samples``: how many samples the baseline was estimated from, or
    None when the baseline is the population itself (a declared distribution).
    """
    p, q, n = fractions(expected, observed)
    if baseline_samples is None:
        n_eff = n
    elif baseline_samples >= 1:
        n_eff = n * baseline_samples / (n + baseline_samples)
    else:
        raise ValueError(f"baseline_samples must be >= 1 or None, got {baseline_samples}")
    statistic = float(np.max(np.abs(np.cumsum(q) - np.cumsum(p))))
    statistic = min(1.0, statistic)
    root = math.sqrt(n_eff)
    return DetectorResult(
        score=statistic,
        p_value=kolmogorov_sf(statistic * root),
        critical_value=kolmogorov_isf(alpha) / root,
    )


METHOD = MethodInfo(
    name="ks",
    numeric=True,
    categorical=False,
    # The significance gate's levels (detectors/significance.py): a test
    # method's thresholds *are* its significance levels.
    warning=WARNING_ALPHA,
    critical=CRITICAL_ALPHA,
    threshold_kind="alpha",
    score=lambda expected, observed, inputs: ks(
        expected, observed, inputs.baseline_samples, inputs.alpha
    ),
)
