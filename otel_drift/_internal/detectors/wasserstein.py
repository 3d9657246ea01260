"""First Wasserstein (earth mover's) distance between two binned distributions.

Each bin's mass sits at one representative value ``x_i`` (increasing). With
``P`` and ``Q`` the cumulative baseline and observed fractions::

    W1 = sum_{i < k} |P_i - Q_i| * (x_{i+1} - x_i),      score = W1 / scale

which is ``scipy.stats.wasserstein_distance(x, x, expected, observed)`` divided
by ``scale``. ``scale`` is the baseline standard deviation, so the score is in
baseline sigmas and one threshold fits metrics of any unit. A ``scale`` that is
not a positive finite number (a constant baseline has sigma 0) is treated as
1: the distance is then reported in the metric's own unit rather than blowing
up to infinity. Zero bins need no smoothing.

>>> import numpy as np
>>> rng = np.random.default_rng(2)
>>> points = np.array([5.0, 15.0, 25.0, 35.0, 45.0])     # bin midpoints, ms
>>> expected = np.array([0.1, 0.4, 0.3, 0.15, 0.05])
>>> observed = rng.multinomial(1000, [0.05, 0.25, 0.35, 0.2, 0.15]).astype(float)
>>> round(wasserstein(points, expected, observed, scale=10.0).score, 4)
0.483
"""

from __future__ import annotations

import numpy as np

from ._inputs import FloatArray, fractions, unit_scale
from .method import MethodInfo, WindowInputs
from .result import DetectorResult


def representative_points(edges: FloatArray) -> FloatArray:
    """Where each of [underflow, bins..., overflow] keeps its mass, for W1.

    Inner bins at their midpoints; underflow and overflow at the outer edges
    (open bins: nothing is known beyond the edge). The outermost inner bins
    usually run to the reference sample's extremes, so most of their mass
    sits near their inner edge, not at a midpoint far out in the tail: their
    point is the inner edge plus half the neighbouring bin's width (never
    beyond the midpoint). Midpoints there doubled the stationary score of
    lognormal latency (0.073 against 0.040 unbinned).

    >>> representative_points(np.array([0.0, 10.0, 20.0, 30.0, 1000.0])).tolist()
    [0.0, 5.0, 15.0, 25.0, 35.0, 1000.0]
    """
    x = np.asarray(edges, dtype=np.float64)
    mids = (x[:-1] + x[1:]) / 2
    if mids.size >= 3:
        mids[0] = max(mids[0], x[1] - (x[2] - x[1]) / 2)
        mids[-1] = min(mids[-1], x[-2] + (x[-2] - x[-3]) / 2)
    points: FloatArray = np.concatenate(([x[0]], mids, [x[-1]]))
    return points


def wasserstein(
    points: FloatArray, expected: FloatArray, observed: FloatArray, scale: float = 1.0
) -> DetectorResult:
    """W1 between ``expected`` fractions and ``observed`` counts at ``points``, over ``scale``."""
    p, q, _ = fractions(expected, observed)
    x = np.asarray(points, dtype=np.float64)
    if x.shape != p.shape:
        raise ValueError(f"points has shape {x.shape} but the bins have shape {p.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("points must be finite")
    gaps = np.diff(x)
    if np.any(gaps < 0.0):
        raise ValueError("points must be increasing")
    return DetectorResult(score=float(wasserstein_rows(p, q, gaps)) / unit_scale(scale))


def wasserstein_rows(p: FloatArray, q: FloatArray, gaps: FloatArray) -> FloatArray:
    """W1 along the last axis of checked fractions, with ``gaps`` between the points.

    ``gaps`` has one entry fewer than the bins on the last axis.
    """
    # The last cumulative difference is 0 (both sum to 1) and has no gap after it.
    cdf_gap = np.abs(np.cumsum(p, axis=-1) - np.cumsum(q, axis=-1))[..., :-1]
    distance: FloatArray = np.sum(cdf_gap * gaps, axis=-1)
    return distance


def _window(expected: FloatArray, observed: FloatArray, inputs: WindowInputs) -> DetectorResult:
    """:func:`wasserstein` on one window, called as the registry calls every method."""
    if inputs.points is None:
        raise ValueError("wasserstein needs the bins' representative points")
    return wasserstein(inputs.points, expected, observed, inputs.scale)


METHOD = MethodInfo(
    name="wasserstein",
    numeric=True,
    categorical=False,
    warning=0.15,
    critical=0.25,
    threshold_kind="distance",
    score=_window,
    rows=lambda p, q, gaps, _: wasserstein_rows(p, q, gaps),
    uses_points=True,
)
