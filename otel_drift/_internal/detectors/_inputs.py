"""Input checks and normalisation shared by the binned/categorical detectors.

Every detector receives ``expected`` (baseline fractions) and ``observed``
(counts in the same bins). Checking them in one place keeps each detector file
down to its formula, and guarantees that no detector ever sees a NaN, an
infinity or a negative mass.

>>> import numpy as np
>>> p, q, n = fractions(np.array([0.5, 0.5]), np.array([3.0, 1.0]))
>>> p.tolist(), q.tolist(), n
([0.5, 0.5], [0.75, 0.25], 4.0)
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def as_vector(values: FloatArray, name: str) -> FloatArray:
    """Return ``values`` as a finite, non-negative, non-empty 1-D float64 array."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    if np.any(array < 0.0):
        raise ValueError(f"{name} must be non-negative")
    return array


def fractions(expected: FloatArray, observed: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """Return ``(p, q, n)``: baseline fractions, observed fractions, observed total.

    ``expected`` is renormalised too: the baseline is declared to sum to 1, but a
    YAML file rounds its fractions, and every formula below assumes exact sums.
    """
    p = as_vector(expected, "expected")
    counts = as_vector(observed, "observed")
    if p.size != counts.size:
        raise ValueError(f"expected has {p.size} bins but observed has {counts.size}")
    p_total = float(p.sum())
    if p_total <= 0.0:
        raise ValueError("expected must have a positive sum")
    n = float(counts.sum())
    if n <= 0.0:
        # The caller only evaluates windows with samples; an empty one is a bug.
        raise ValueError("observed must contain at least one count")
    return p / p_total, counts / n, n


def unit_scale(scale: float) -> float:
    """``scale`` if it is a positive finite number, else 1.

    A constant baseline has standard deviation 0: a score in baseline sigmas is
    then reported in the value's own unit rather than blowing up to infinity.
    """
    return scale if math.isfinite(scale) and scale > 0.0 else 1.0
