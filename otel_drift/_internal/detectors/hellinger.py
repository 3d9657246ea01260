"""Hellinger distance.

With ``p`` the baseline fractions and ``q`` the observed fractions::

    H(p, q) = sqrt(1 - sum_i sqrt(p_i q_i)) = ||sqrt(p) - sqrt(q)||_2 / sqrt(2)

It lies in ``[0, 1]``: 0 for identical distributions, 1 for disjoint supports.
The two forms are equal because both vectors sum to 1; the norm form is the one
computed, since ``1 - sum sqrt(p q)`` cancels catastrophically for close
distributions (an error near 1e-16 under the root becomes 1e-8 on the result).
Zero bins need no smoothing: ``sqrt(0) = 0`` is exact.

>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> expected = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
>>> observed = rng.multinomial(1000, [0.2, 0.2, 0.3, 0.25, 0.05]).astype(float)
>>> round(hellinger(expected, observed).score, 4)
0.1788
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._inputs import FloatArray, fractions
from .method import MethodInfo
from .result import DetectorResult


def hellinger_rows(p: FloatArray, q: FloatArray) -> FloatArray:
    """Hellinger distance along the last axis of checked fractions."""
    distance = np.linalg.norm(np.sqrt(p) - np.sqrt(q), axis=-1) / math.sqrt(2.0)
    # Clip: rounding can push disjoint supports a hair above 1.
    clipped: FloatArray = np.minimum(1.0, distance)
    return clipped


def hellinger(expected: FloatArray, observed: FloatArray) -> DetectorResult:
    """Hellinger distance of ``observed`` counts vs ``expected`` fractions."""
    p, q, _ = fractions(expected, observed)
    return DetectorResult(score=float(hellinger_rows(p, q)))


def hellinger_promql(observed: str, expected: str, group: Sequence[str]) -> str:
    """The Hellinger distance in PromQL (the norm form, clipped like the detector)."""
    return (
        f"clamp_max(sqrt(sum by ({', '.join(group)}) "
        f"((sqrt({expected}) - sqrt({observed})) ^ 2)) / {math.sqrt(2.0)!r}, 1)"
    )


METHOD = MethodInfo(
    name="hellinger",
    numeric=True,
    categorical=True,
    warning=0.06,
    critical=0.1,
    # 1 % -> 3 % / 1 % -> 4.5 % of a mix (``MethodInfo.categorical_thresholds``).
    categorical_thresholds=(0.05, 0.08),
    threshold_kind="distance",
    score=lambda expected, observed, _: hellinger(expected, observed),
    rows=lambda p, q, _, __: hellinger_rows(p, q),
    promql=hellinger_promql,
)
