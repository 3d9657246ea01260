"""Running count, mean, variance, min and max over batches, mergeable.

Each batch is reduced with numpy (two-pass mean and sum of squared deviations), then
folded into the running state with Chan, Golub & LeVeque's pairwise update, which stays
accurate when the mean is large relative to the spread (no sum-of-squares cancellation).
NaN values are skipped and counted in ``nan``; infinities are kept, as numpy would.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> data = rng.normal(100.0, 2.0, size=10_000)
>>> m = RunningMoments()
>>> for batch in np.array_split(data, 7):
...     m.update(batch)
>>> m.update(np.array([np.nan]))
>>> m.count, m.nan
(10000, 1)
>>> bool(np.isclose(m.mean, data.mean(), rtol=1e-12))
True
>>> bool(np.isclose(m.variance, data.var(), rtol=1e-10))
True
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["RunningMoments"]


class RunningMoments:
    """Streaming moments of float64 values.

    Statistics of an empty sketch are NaN (and ``sample_variance`` needs 2 values), so a
    window without data never reads as "mean 0". Not locked: one writer thread.
    """

    __slots__ = ("_count", "_m2", "_max", "_mean", "_min", "_nan")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._nan = 0
        self._mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the mean
        # Identities of min/max, so combining needs no "is it empty" special case.
        self._min = math.inf
        self._max = -math.inf

    @property
    def count(self) -> int:
        """Number of non-NaN values."""
        return self._count

    @property
    def nan(self) -> int:
        return self._nan

    @property
    def mean(self) -> float:
        return self._mean if self._count else math.nan

    @property
    def variance(self) -> float:
        """Population variance (divides by ``count``)."""
        return self._m2 / self._count if self._count else math.nan

    @property
    def sample_variance(self) -> float:
        """Sample variance (divides by ``count - 1``)."""
        return self._m2 / (self._count - 1) if self._count > 1 else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation."""
        return math.sqrt(self.variance)

    @property
    def sample_std(self) -> float:
        return math.sqrt(self.sample_variance)

    @property
    def min(self) -> float:
        return self._min if self._count else math.nan

    @property
    def max(self) -> float:
        return self._max if self._count else math.nan

    def update(self, values: npt.ArrayLike) -> None:
        """Add a batch of values (any shape; flattened)."""
        x = np.ravel(np.asarray(values, dtype=np.float64))
        nan_mask = np.isnan(x)
        n_nan = int(np.count_nonzero(nan_mask))
        if n_nan:
            self._nan += n_nan
            x = x[~nan_mask]
        if x.size == 0:
            return
        # inf - inf is NaN, as in np.mean/np.var; keep that result but not a warning per
        # batch in the worker's log.
        with np.errstate(invalid="ignore"):
            mean = float(x.mean())
            m2 = float(np.square(x - mean).sum())
        self._combine(int(x.size), mean, m2, float(x.min()), float(x.max()))

    def merge(self, other: RunningMoments) -> None:
        """Fold ``other`` into this sketch (in place)."""
        # Read everything before writing, so that a.merge(a) is well defined.
        state = (other._count, other._mean, other._m2, other._min, other._max)
        self._nan += other._nan
        self._combine(*state)

    def _combine(self, n_b: int, mean_b: float, m2_b: float, min_b: float, max_b: float) -> None:
        if n_b == 0:
            return
        n_a = self._count
        if n_a == 0:
            # Taking b as-is avoids 0 * inf = NaN when b's mean is infinite.
            self._count, self._mean, self._m2 = n_b, mean_b, m2_b
        else:
            n = n_a + n_b
            delta = mean_b - self._mean
            self._mean += delta * (n_b / n)
            self._m2 += m2_b + delta * delta * (n_a * n_b / n)
            self._count = n
        self._min = min(self._min, min_b)
        self._max = max(self._max, max_b)

    def copy(self) -> RunningMoments:
        clone = RunningMoments()
        clone._count, clone._nan = self._count, self._nan
        clone._mean, clone._m2 = self._mean, self._m2
        clone._min, clone._max = self._min, self._max
        return clone
