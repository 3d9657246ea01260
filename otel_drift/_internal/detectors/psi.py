"""Population Stability Index (PSI).

With ``e_i`` the baseline fractions and ``o_i`` the observed fractions::

    PSI = sum_i (o_i - e_i) * ln(o_i / e_i),   o_i, e_i <- o_i + eps, e_i + eps

Smoothing: ``eps = 1e-4`` is added to *both* fractions of every bin before the
log, so a bin empty on one side (an overflow bin, an unseen category) gives a
large but finite term instead of an infinite one. Adding (rather than
replacing zeros with ``eps``, as Evidently does) keeps the score continuous in
the fractions and keeps identical distributions at exactly 0. Every term is
``>= 0``, so PSI is too.

A bin the baseline fills but the window left empty is smoothed by the
window's own resolution instead: its observed share is ``0.5 / n`` (half a
value, the Jeffreys pseudo-count), not ``eps``. With ``eps`` alone, one empty
bin of 3.1 % baseline share adds 0.18 whatever the window's size, so a
157-span partial window of a steady service read critical; at ``0.5 / n`` it
adds 0.06, and the term shrinks as the window grows. (PromQL's form, run on
fleet-wide sums where ``n`` is large, keeps ``eps`` only.)

Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> expected = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
>>> same = rng.multinomial(5000, expected).astype(float)
>>> shifted = rng.multinomial(5000, [0.05, 0.1, 0.3, 0.3, 0.25]).astype(float)
>>> round(psi(expected, same).score, 4)
0.001
>>> round(psi(expected, shifted).score, 4)
0.3056
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._inputs import FloatArray, fractions
from .method import MethodInfo
from .result import DetectorResult

#: Added to both fractions of every bin before the log (see module docstring).
PSI_EPS = 1e-4


def psi_rows(p: FloatArray, q: FloatArray, totals: FloatArray) -> FloatArray:
    """PSI along the last axis of checked fractions (one score per row).

    ``totals``: each row's observed count ``n`` (a scalar for one row).
    """
    half = 0.5 / np.asarray(totals, dtype=np.float64)
    if half.ndim:
        half = half[:, None]
    e = p + PSI_EPS
    o = q + PSI_EPS + np.where((q == 0.0) & (p > 0.0), half, 0.0)
    scores: FloatArray = np.sum((o - e) * np.log(o / e), axis=-1)
    return scores


def psi(expected: FloatArray, observed: FloatArray) -> DetectorResult:
    """PSI of the ``observed`` counts against the ``expected`` fractions."""
    e, o, n = fractions(expected, observed)
    return DetectorResult(score=float(psi_rows(e, o, np.array(n))))


def psi_promql(observed: str, expected: str, group: Sequence[str]) -> str:
    """PSI in PromQL, with the same smoothing.

    >>> psi_promql("o", "e", ("job",))
    'sum by (job) ((o - e) * ln((o + 0.0001) / (e + 0.0001)))'
    """
    # (o + eps) - (e + eps) == o - e, so the difference needs no smoothing.
    return (
        f"sum by ({', '.join(group)}) (({observed} - {expected}) * "
        f"ln(({observed} + {PSI_EPS:g}) / ({expected} + {PSI_EPS:g})))"
    )


METHOD = MethodInfo(
    name="psi",
    numeric=True,
    categorical=True,
    warning=0.05,
    critical=0.1,
    # 1 % -> 3 % / 1 % -> 4.5 % of a mix (``MethodInfo.categorical_thresholds``).
    categorical_thresholds=(0.02, 0.05),
    threshold_kind="distance",
    score=lambda expected, observed, _: psi(expected, observed),
    rows=lambda p, q, _, totals: psi_rows(p, q, totals),
    promql=psi_promql,
    score_power=2,
)
