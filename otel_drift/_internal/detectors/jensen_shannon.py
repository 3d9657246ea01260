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
from collections.abc import Sequence

import numpy as np

from ._inputs import FloatArray, fractions
from .method import MethodInfo
from .result import DetectorResult


def _kl_to_mixture(a: FloatArray, m: FloatArray) -> FloatArray:
    """``sum a_i ln(a_i / m_i)`` along the last axis, over the bins where ``a_i > 0``."""
    mask = a > 0.0
    # Where a_i = 0 the term is 0 (and m_i may be 0): divide by 1 there instead.
    ratio = np.divide(a, m, out=np.ones_like(a), where=mask)
    terms = np.multiply(a, np.log(ratio), out=np.zeros_like(a), where=mask)
    total: FloatArray = np.sum(terms, axis=-1)
    return total


def jensen_shannon_rows(p: FloatArray, q: FloatArray) -> FloatArray:
    """Jensen-Shannon distance along the last axis of checked fractions."""
    m = 0.5 * (p + q)
    divergence = 0.5 * (_kl_to_mixture(p, m) + _kl_to_mixture(q, m)) / math.log(2.0)
    distance: FloatArray = np.sqrt(np.clip(divergence, 0.0, 1.0))
    return distance


def jensen_shannon(expected: FloatArray, observed: FloatArray) -> DetectorResult:
    """Jensen-Shannon distance (base 2) of ``observed`` counts vs ``expected`` fractions."""
    p, q, _ = fractions(expected, observed)
    return DetectorResult(score=float(jensen_shannon_rows(p, q)))


def jensen_shannon_promql(observed: str, expected: str, group: Sequence[str]) -> str:
    """The Jensen-Shannon distance in PromQL."""
    # 0 * ln(0) is taken as 0: the `> 0` filters drop those bins before the log,
    # as the detector's mask does.
    by = ", ".join(group)
    mixture = f"(({observed} + {expected}) / 2)"
    kl_p = f"sum by ({by}) (({expected} > 0) * ln(({expected} > 0) / {mixture}))"
    kl_q = f"sum by ({by}) (({observed} > 0) * ln(({observed} > 0) / {mixture}))"
    return f"sqrt(clamp(0.5 * ({kl_p} + {kl_q}) / {math.log(2.0)!r}, 0, 1))"


METHOD = MethodInfo(
    name="jensen_shannon",
    numeric=True,
    categorical=True,
    warning=0.07,
    critical=0.12,
    # 1 % -> 3 % / 1 % -> 4.5 % of a mix (``MethodInfo.categorical_thresholds``).
    categorical_thresholds=(0.06, 0.09),
    threshold_kind="distance",
    score=lambda expected, observed, _: jensen_shannon(expected, observed),
    rows=lambda p, q, _, __: jensen_shannon_rows(p, q),
    promql=jensen_shannon_promql,
)
