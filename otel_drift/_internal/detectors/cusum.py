"""Two-sided CUSUM on standardized values.

The engine feeds it *normal scores*: each value is taken through the
baseline's own distribution, ``z = Phi^-1(F(x))`` (:func:`normal_scores`,
``F`` the binned CDF, piecewise linear in each bin), so in control ``z`` is
standard normal whatever the shape of the data. On raw ``(x - mean) / std``
a skewed latency (lognormal) alarmed about every 4,000 samples at ``h = 10``,
where Gaussian data would take 70,000: ``h`` meant a different thing for
each shape. With normal scores it means one thing.

With ``z_t = (x_t - mean) / std`` (0 and 1 for normal scores) and the
allowance ``k`` (half the shift to detect, in sigmas)::

    S+_t = max(0, S+_{t-1} + z_t - k)
    S-_t = max(0, S-_{t-1} - z_t - k)
    statistic_t = max(S+_t, S-_t)

A shift is signalled when the statistic reaches the decision interval ``h``
(compared by the caller). The in-control average run length (ARL) of one
side is, by Siegmund's approximation with ``b = h + 1.166``,
``(exp(2 k b) - 2 k b - 1) / (2 k^2)``; two sides halve it. With ``k = 0.5``
and ``h = 5`` that is about 465 samples; a 1-sigma shift is caught after
about 10.

The defaults, ``k = 0.25``, ``h = 38`` (warning) and ``52`` (critical), put
the ARL at 1.5e9 and 2.0e12 samples: for windows of 1,000 values, the
significance budget of the other methods (1e-6 and 1e-9 a window; see
``significance.py``). ``k = 0.25`` is tuned to a half-sigma shift (latency
x1.3 on lognormal data with sigma 0.5 is 0.52 sigma of normal score), caught
after about (h + 1.166) / (delta - k), 200 values; a 1-sigma shift after 70.
Measured on lognormal latency through decile bins (``k = 0.25``, 50-200 runs,
/tmp/arl.py in the issue-15 note): ``h`` = 8, 10, 12 ran 1,300, 6,000 and
20,000 values between false alarms, 4 to 7 times the approximation, so the
defaults err on the quiet side; x1.3 was caught after 296 values at
``h = 52``. A shift below ``k`` (x1.1 here, 0.19 sigma) is not caught.
The engine adds the baseline's own sampling error to ``k``
(:func:`reference_allowance`).

The recursion ``S_t = max(0, S_{t-1} + d_t)`` (Lindley's) has a closed form per
batch, which is what ``update`` evaluates without a per-sample Python loop::

    C_t = d_1 + ... + d_t,   S_t = C_t - min(-S_0, C_1, ..., C_t)

(``np.cumsum`` and ``np.minimum.accumulate``). ``C_t`` drifts by ``-k`` per
in-control sample, so long batches are cut into blocks of ``_BLOCK`` values
to bound the rounding error of ``C_t - min(...)``.

A ``std`` that is not positive (a constant baseline) is treated as 1, so the
values are then measured in the metric's own unit. Non-finite values (NaN,
+-inf) are skipped: one infinity would otherwise stick in the state forever.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> cusum = Cusum(mean=100.0, std=10.0)
>>> steady = cusum.update(rng.normal(100.0, 10.0, 100))
>>> round(steady.max_statistic, 4), round(steady.last_statistic, 4), steady.count
(3.6002, 0.949, 100)
>>> shifted = cusum.update(rng.normal(115.0, 10.0, 30))   # +1.5 sigma
>>> round(shifted.max_statistic, 4), round(cusum.statistic, 4)
(28.8481, 28.8481)
>>> cusum.reset(); cusum.statistic
0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._inputs import FloatArray
from .method import MethodInfo

_BLOCK = 8192
#: Normal scores are clamped to the quantiles this far from 0 and 1 (|z| <= 3.72):
#: one value beyond the baseline's range is strong evidence, but bounded.
_TAIL = 1e-4

# Acklam's rational approximation of the standard normal quantile (relative
# error 1.2e-9), in numpy: the CUSUM takes every value through it.
_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_LOW = 0.02425


def _polyval(coefficients: tuple[float, ...], x: FloatArray) -> FloatArray:
    result = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        result = result * x + c
    return result


def normal_quantile(u: FloatArray) -> FloatArray:
    """``Phi^-1(u)`` for ``u`` in (0, 1), elementwise.

    >>> normal_quantile(np.array([0.5, 0.975, 0.025])).round(4).tolist()
    [0.0, 1.96, -1.96]
    """
    u = np.asarray(u, dtype=np.float64)
    z = np.empty_like(u)
    low = u < _LOW
    high = u > 1.0 - _LOW
    mid = ~(low | high)
    q = u[mid] - 0.5
    r = q * q
    z[mid] = q * _polyval(_A, r) / (_polyval(_B, r) * r + 1.0)
    for mask, sign, tail in ((low, 1.0, u[low]), (high, -1.0, 1.0 - u[high])):
        t = np.sqrt(-2.0 * np.log(tail))
        z[mask] = sign * _polyval(_C, t) / (_polyval(_D, t) * t + 1.0)
    return z


def normal_scores(values: FloatArray, edges: FloatArray, fractions: FloatArray) -> FloatArray:
    """``Phi^-1(F(x))`` with ``F`` the binned baseline's CDF (linear within bins).

    >>> edges, fractions = np.array([0.0, 10.0, 100.0]), np.array([0.5, 0.5])
    >>> normal_scores(np.array([10.0, 55.0, 1e6]), edges, fractions).round(3).tolist()
    [0.0, 0.674, 3.719]
    """
    cdf = np.concatenate(([0.0], np.cumsum(fractions)))
    cdf /= cdf[-1]
    u = np.interp(np.asarray(values, dtype=np.float64), edges, cdf)
    return normal_quantile(np.clip(u, _TAIL, 1.0 - _TAIL))


def reference_allowance(k: float, samples: int | None) -> float:
    """The allowance for a baseline recorded from ``samples`` values: ``k + 3.75 / sqrt(samples)``.

    A baseline is itself a sample: its quantiles, hence its CDF, are off by
    about ``sqrt(F (1 - F) / m)``, at most ``0.5 / sqrt(m)``, which the normal
    scores carry as a mean offset of up to ``1.25 / sqrt(m)`` (``dz/dF`` is 2.5
    at the median). A CUSUM adds that offset up value after value, so over
    windows of 10,000 values a 1,000-value reference (offsets 0.01 to 0.09 in 5
    draws, /tmp/cusum_ref.py) raised 10 false warnings in 10,000 stationary
    windows with ``k = 0.25``. The allowance absorbs three standard errors of
    the offset (0.12 at ``m = 1,000``, 0.012 at 100,000); with ``samples``
    unknown the baseline is taken as exact, as in ``significance.py``.

    >>> reference_allowance(0.25, 1000), reference_allowance(0.25, None)
    (0.3686, 0.25)
    """
    if not samples or samples <= 0:
        return k
    return round(k + 3.75 / math.sqrt(samples), 4)


@dataclass(frozen=True)
class CusumUpdate:
    """What one batch did to the CUSUM.

    ``max_statistic``: the largest ``max(S+, S-)`` reached within the batch
    (the current statistic when the batch had no usable value);
    ``last_statistic``: ``max(S+, S-)`` after the batch;
    ``count``: how many values of the batch were used (non-finite ones are not).
    """

    max_statistic: float
    last_statistic: float
    count: int


def _lindley(start: float, steps: FloatArray) -> FloatArray:
    """All ``S_t = max(0, S_{t-1} + steps_t)`` from ``S_0 = start``, without a loop."""
    cumulative = np.cumsum(steps)
    floor = np.minimum.accumulate(np.concatenate(([-start], cumulative)))[1:]
    # The subtraction can leave -1e-16 where the exact value is 0.
    return np.maximum(cumulative - floor, 0.0)


class Cusum:
    """Stateful two-sided CUSUM; feed it batches with ``update``."""

    def __init__(self, mean: float, std: float, k: float = 0.5) -> None:
        if not math.isfinite(mean):
            raise ValueError(f"mean must be finite, got {mean}")
        if not math.isfinite(std):
            raise ValueError(f"std must be finite, got {std}")
        if not (math.isfinite(k) and k >= 0.0):
            raise ValueError(f"k must be finite and >= 0, got {k}")
        self.mean = mean
        self.std = std if std > 0.0 else 1.0
        self.k = k
        self._upper = 0.0
        self._lower = 0.0

    @property
    def statistic(self) -> float:
        """Current ``max(S+, S-)``."""
        return max(self._upper, self._lower)

    def reset(self) -> None:
        """Forget the accumulated evidence, e.g. after an alarm was handled."""
        self._upper = 0.0
        self._lower = 0.0

    def update(self, values: FloatArray) -> CusumUpdate:
        """Feed a batch of raw values, in arrival order."""
        x = np.asarray(values, dtype=np.float64).ravel()
        x = x[np.isfinite(x)]
        highest = self.statistic
        for start in range(0, x.size, _BLOCK):
            z = (x[start : start + _BLOCK] - self.mean) / self.std
            upper = _lindley(self._upper, z - self.k)
            lower = _lindley(self._lower, -z - self.k)
            self._upper = float(upper[-1])
            self._lower = float(lower[-1])
            block_max = float(max(upper.max(), lower.max()))
            highest = block_max if start == 0 else max(highest, block_max)
        return CusumUpdate(max_statistic=highest, last_statistic=self.statistic, count=x.size)


#: The allowance the defaults below are computed for (module docstring).
DEFAULT_K = 0.25

METHOD = MethodInfo(
    name="cusum",
    numeric=True,
    categorical=False,
    warning=38.0,
    critical=52.0,
    threshold_kind="h",
    # Stateful across windows: the engine drives a Cusum per watched value.
    score=None,
)
