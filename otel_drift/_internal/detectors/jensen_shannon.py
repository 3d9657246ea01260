"""Jensen-Shannon distance, base 2.

With ``p`` the baseline fractions, ``q`` the observed fractions and
``m = (p + q) / 2``::

    JSD(p, q) = sqrt( (KL(p || m) + KL(q || m)) / 2 ),   KL(a || b) = sum a_i log2(a_i / b_i)

This is the *distance* (the square root of the divergence), the quantity
``scipy.spatial.distance.jensenshannon(p, q, base=2)`` returns. In base 2 it
lies in ``[0, 1]``: 0 for identical distributions, 1 for disjoint supports.

No smoothing is needed: a term with ``a_i = 0`` is 0 by the limit
``0 * log 0 = 0``, and ``m_i > 0`` wherever ``a_i > 0``, so zero bins on either
side are exact. The square root is taken of the divergence clipped to
``[0, 1]``, because rounding can leave it a hair below 0 for identical inputs.

>>> import numpy as np
>>> rng = np.random.default_rng(11)
>>> expected = np.array([0.7, 0.2, 0.1, 0.0])   # the baseline never saw "other"
>>> observed = rng.multinomial(2000, [0.5, 0.2, 0.1, 0.2]).astype(float)
>>> round(jensen_shannon(expected, observed).score, 4)
0.3381
>>> jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 9.0])).score
1.0
"""

from __future__ import annotations

import math

import numpy as np

from ._inputs import FloatArray, fractions
from .result import DetectorResult


def _kl_to_mixture(a: FloatArray, m: FloatArray) -> float:
    """``sum a_i ln(a_i / m_i)`` over the bins where ``a_i > 0`` (natural log)."""
    mask = a > 0.0
    return float(np.sum(a[mask] * np.log(a[mask] / m[mask])))


def jensen_shannon(expected: FloatArray, observed: FloatArray) -> DetectorResult:
    """Jensen-Shannon distance (base 2) of ``observed`` counts vs ``expected`` fractions."""
    p, q, _ = fractions(expected, observed)
    m = 0.5 * (p + q)
    divergence = 0.5 * (_kl_to_mixture(p, m) + _kl_to_mixture(q, m)) / math.log(2.0)
    return DetectorResult(score=math.sqrt(min(1.0, max(0.0, divergence))))
