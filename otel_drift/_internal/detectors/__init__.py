"""Drift detectors: one formula per module, pure numpy, no state except CUSUM's.

Binned and categorical detectors compare ``expected`` (baseline fractions,
summing to 1, zeros allowed) with ``observed`` (counts in the same bins, total
> 0) and return a :class:`DetectorResult`. Each detector module also
defines its :class:`MethodInfo` (name, applicability, default thresholds,
formulas); ``METHODS`` collects them, and :func:`evaluate` dispatches on the
method name an expectations file uses; :func:`level` turns a result into
0 (ok), 1 (warning) or 2 (critical) for the method's threshold kind, and
:class:`Hysteresis` turns the levels of successive windows into a status.

>>> import numpy as np
>>> rng = np.random.default_rng(6)
>>> expected = np.array([0.25, 0.5, 0.25])
>>> observed = rng.multinomial(1000, [0.1, 0.5, 0.4]).astype(float)
>>> result = evaluate("psi", expected, observed)
>>> round(result.score, 4), level("distance", result, warning=0.1, critical=0.25)
(0.1835, 1)
>>> result = evaluate("ks", expected, observed, alpha=0.05)
>>> level("alpha", result, warning=0.05, critical=0.01)
2
"""

from __future__ import annotations

from collections.abc import Mapping

from ._inputs import FloatArray, unit_scale
from .chi_square import METHOD as CHI_SQUARE
from .chi_square import chi_square
from .cusum import METHOD as CUSUM
from .cusum import Cusum, CusumUpdate
from .hellinger import METHOD as HELLINGER
from .hellinger import hellinger
from .hysteresis import Hysteresis
from .jensen_shannon import METHOD as JENSEN_SHANNON
from .jensen_shannon import jensen_shannon
from .kolmogorov_smirnov import METHOD as KS
from .kolmogorov_smirnov import ks
from .linf import METHOD as LINF
from .linf import linf
from .method import MethodInfo, WindowInputs
from .psi import METHOD as PSI
from .psi import psi
from .result import DetectorResult
from .wasserstein import METHOD as WASSERSTEIN
from .wasserstein import wasserstein

__all__ = [
    "METHODS",
    "Cusum",
    "CusumUpdate",
    "DetectorResult",
    "Hysteresis",
    "MethodInfo",
    "chi_square",
    "evaluate",
    "hellinger",
    "jensen_shannon",
    "ks",
    "level",
    "linf",
    "psi",
    "unit_scale",
    "wasserstein",
]

#: The drift methods an expectations file may name, in the order the schema
#: lists them. Registering a detector is one entry here.
METHODS: Mapping[str, MethodInfo] = {
    method.name: method
    for method in (PSI, JENSEN_SHANNON, WASSERSTEIN, KS, CHI_SQUARE, HELLINGER, LINF, CUSUM)
}


def evaluate(
    method: str,
    expected: FloatArray,
    observed: FloatArray,
    *,
    points: FloatArray | None = None,
    scale: float = 1.0,
    baseline_samples: int | None = None,
    alpha: float = 0.05,
) -> DetectorResult:
    """Run the binned/categorical detector named ``method``.

    ``points`` and ``scale`` are used by ``"wasserstein"`` (``points`` is then
    required); ``baseline_samples`` and ``alpha`` by ``"ks"`` (``alpha`` is the
    warning alpha, the one ``critical_value`` is computed at). CUSUM is
    stateful and is driven through :class:`Cusum` instead.
    """
    entry = METHODS.get(method)
    if entry is None or entry.score is None:
        known = ", ".join(sorted(name for name, m in METHODS.items() if m.score is not None))
        raise ValueError(f"unknown drift method {method!r}; expected one of: {known}")
    return entry.score(expected, observed, WindowInputs(points, scale, baseline_samples, alpha))


def level(
    method_threshold_kind: str, result: DetectorResult, warning: float, critical: float
) -> int:
    """0 (ok), 1 (warning) or 2 (critical) for ``result`` under the thresholds.

    ``"distance"`` and ``"h"``: the score at or above a threshold reaches it.
    ``"alpha"``: the p-value at or below a threshold reaches it (the critical
    alpha is the smaller one).
    """
    if method_threshold_kind in ("distance", "h"):
        if result.score >= critical:
            return 2
        return 1 if result.score >= warning else 0
    if method_threshold_kind == "alpha":
        if result.p_value is None:
            raise ValueError("an alpha threshold needs a result with a p-value")
        if result.p_value <= critical:
            return 2
        return 1 if result.p_value <= warning else 0
    raise ValueError(f"unknown threshold kind {method_threshold_kind!r}")
