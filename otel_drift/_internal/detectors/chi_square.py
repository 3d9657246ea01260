"""Pearson chi-square goodness-of-fit test of observed counts vs the baseline.

With ``o_i`` the observed counts, ``n`` their total and ``e_i`` the baseline
fractions::

    X^2 = sum_i (o_i - n e_i)^2 / (n e_i),    p = Q(dof / 2, X^2 / 2)

where ``Q(a, x) = Gamma(a, x) / Gamma(a)`` is the regularized upper incomplete
gamma function (the chi-square survival function, ``scipy.stats.chi2.sf``,
here from ``gamma.py``, without scipy).

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

import numpy as np

from ._inputs import FloatArray, fractions
from .gamma import chi2_sf
from .method import CRITICAL_ALPHA, WARNING_ALPHA, MethodInfo
from .result import DetectorResult

#: Floor on the baseline fraction of a bin that has observed counts.
CHI_SQUARE_EPS = 1e-4


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
