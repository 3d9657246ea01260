"""L-infinity (Chebyshev) distance between fractions.

With ``p`` the baseline fractions and ``q`` the observed fractions::

    Linf(p, q) = max_i |p_i - q_i|

It lies in ``[0, 1]`` and reads directly as "the largest change in any one
bin's share", which makes it the easiest score to explain in an alert. Zero
bins need no smoothing.

>>> import numpy as np
>>> rng = np.random.default_rng(5)
>>> expected = np.array([0.6, 0.3, 0.1])
>>> observed = rng.multinomial(400, [0.45, 0.35, 0.2]).astype(float)
>>> round(linf(expected, observed).score, 4)
0.1225
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._inputs import FloatArray, fractions
from .method import MethodInfo
from .result import DetectorResult


def linf_rows(p: FloatArray, q: FloatArray) -> FloatArray:
    """Largest absolute difference along the last axis of checked fractions."""
    largest: FloatArray = np.max(np.abs(p - q), axis=-1)
    return largest


def linf(expected: FloatArray, observed: FloatArray) -> DetectorResult:
    """Largest absolute difference between ``observed`` and ``expected`` fractions."""
    p, q, _ = fractions(expected, observed)
    return DetectorResult(score=float(linf_rows(p, q)))


def linf_promql(observed: str, expected: str, group: Sequence[str]) -> str:
    """The L-infinity distance in PromQL."""
    return f"max by ({', '.join(group)}) (abs({observed} - {expected}))"


METHOD = MethodInfo(
    name="linf",
    numeric=True,
    categorical=True,
    warning=0.03,
    critical=0.05,
    # 1 % -> 3 % / 1 % -> 4.5 % of a mix (``MethodInfo.categorical_thresholds``).
    categorical_thresholds=(0.02, 0.035),
    threshold_kind="distance",
    score=lambda expected, observed, _: linf(expected, observed),
    rows=lambda p, q, _, __: linf_rows(p, q),
    promql=linf_promql,
)
