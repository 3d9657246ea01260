"""The value every binned/categorical detector returns.

One small frozen type keeps the exporter independent of the method: it always
reads ``score`` (exported as ``drift.score``) and, for the hypothesis tests,
``p_value`` and ``critical_value``.

>>> DetectorResult(score=0.25)
DetectorResult(score=0.25, p_value=None, critical_value=None)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class DetectorResult:
    """Outcome of one detector evaluation on one window.

    ``score``: the distance or test statistic (exported as ``drift.score``).
    ``p_value``: for the hypothesis tests (``ks``, ``chi_square``), else None.
    ``critical_value``: for ``ks``, the statistic at which the test rejects at
    the requested alpha, else None.
    """

    score: float
    p_value: float | None = None
    critical_value: float | None = None
