"""Fixed-edge histogram with underflow, overflow and NaN buckets.

Bins follow ``numpy.histogram``: bin ``i`` is ``[edges[i], edges[i+1])`` except the last,
which also holds its right edge. Values below ``edges[0]`` (and ``-inf``) are underflow,
values above ``edges[-1]`` (and ``+inf``) are overflow, NaN is counted on its own.

Layout: ``bin_counts`` has one int64 entry per bin (``len(edges) - 1``); ``underflow``,
``overflow`` and ``nan`` are ints. ``extended_counts()`` returns
``[underflow, *bin_counts, overflow]`` as float64, the vector the detectors compare
against a baseline; NaN is left out of it.

>>> import numpy as np
>>> rng = np.random.default_rng(42)
>>> h = BinnedHistogram([0.0, 1.0, 2.0, 3.0])
>>> h.update(rng.uniform(-1.0, 4.0, size=1000))
>>> h.update(np.array([np.nan, 3.0, np.inf]))
>>> int(h.bin_counts.sum()) + h.underflow + h.overflow + h.nan == h.total == 1003
True
>>> h.extended_counts().shape
(5,)
>>> other = h.copy()
>>> h.merge(other)
>>> h.total, h.nan
(2006, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["BinnedHistogram"]


class BinnedHistogram:
    """Counts of float64 values in fixed bins; mergeable when the edges are equal.

    Edges must be finite: an infinite edge would pull ``±inf`` into a bin, breaking the
    rule that infinities are always underflow/overflow.

    Not locked: the single writer (the worker thread) calls ``update``/``merge``/``reset``;
    readers get copies from the properties, so they never see an array mid-update.
    """

    __slots__ = ("_counts", "_edges")

    def __init__(self, edges: Sequence[float] | npt.NDArray[np.float64]) -> None:
        arr = np.array(edges, dtype=np.float64)
        if arr.ndim != 1 or arr.size < 2:
            raise ValueError("edges must be a 1-D sequence of at least 2 values")
        if not np.all(np.isfinite(arr)):
            raise ValueError("edges must be finite")
        if not np.all(np.diff(arr) > 0):
            raise ValueError("edges must be strictly increasing")
        arr.flags.writeable = False  # shared by copies; must never change under them
        self._edges: npt.NDArray[np.float64] = arr
        # One array for everything so update/merge/reset are a single vector op each:
        # [underflow, bin_0 .. bin_{n-1}, overflow, nan]
        self._counts: npt.NDArray[np.int64] = np.zeros(arr.size + 2, dtype=np.int64)

    @property
    def edges(self) -> npt.NDArray[np.float64]:
        """Bin edges (read-only array)."""
        return self._edges

    @property
    def nbins(self) -> int:
        return int(self._edges.size - 1)

    @property
    def bin_counts(self) -> npt.NDArray[np.int64]:
        """Per-bin counts, length ``nbins`` (a copy)."""
        return self._counts[1:-2].copy()

    @property
    def underflow(self) -> int:
        return int(self._counts[0])

    @property
    def overflow(self) -> int:
        return int(self._counts[-2])

    @property
    def nan(self) -> int:
        return int(self._counts[-1])

    @property
    def total(self) -> int:
        """Every value seen, NaN included."""
        return int(self._counts.sum())

    def update(self, values: npt.ArrayLike) -> None:
        """Count a batch of values (any shape; flattened)."""
        x = np.ravel(np.asarray(values, dtype=np.float64))
        if x.size == 0:
            return
        nbins = self._edges.size - 1
        # side="right" gives index i+1 for edges[i] <= v < edges[i+1], 0 for underflow and
        # nbins+1 for v >= edges[-1]; that is already the slot in self._counts.
        idx = np.searchsorted(self._edges, x, side="right")
        # numpy.histogram closes the last bin, so v == edges[-1] moves back into it.
        idx[x == self._edges[-1]] = nbins
        # NaN sorts past every edge; give it its own slot rather than rely on that order.
        idx[np.isnan(x)] = nbins + 2
        self._counts += np.bincount(idx, minlength=self._counts.size)

    @property
    def counts_shared(self) -> bool:
        """Whether the counts live in a row of a :class:`HistogramBank`'s array."""
        return self._counts.base is not None

    def share_counts(self, row: npt.NDArray[np.int64]) -> None:
        """Keep the counts in ``row`` (a bank's), starting from the current ones."""
        if row.shape != self._counts.shape:
            raise ValueError(f"a row of {row.shape} cannot hold counts of {self._counts.shape}")
        row[:] = self._counts
        self._counts = row

    def add_slot_counts(self, counts: npt.NDArray[np.int64]) -> None:
        """Add counts laid out as ``[underflow, *bins, overflow, nan]`` (a bank's output)."""
        self._counts += counts

    def merge(self, other: BinnedHistogram) -> None:
        """Add ``other``'s counts into this histogram (in place)."""
        # Copies share their edges array: the common case skips the comparison.
        if other._edges is not self._edges and not np.array_equal(self._edges, other._edges):
            raise ValueError("cannot merge histograms with different edges")
        self._counts += other._counts

    def reset(self) -> None:
        self._counts[:] = 0

    def copy(self) -> BinnedHistogram:
        clone = BinnedHistogram.__new__(BinnedHistogram)
        clone._edges = self._edges  # immutable, safe to share
        clone._counts = self._counts.copy()
        return clone

    def extended_counts(self) -> npt.NDArray[np.float64]:
        """``[underflow, *bin_counts, overflow]`` as float64 (NaN excluded)."""
        return self._counts[:-1].astype(np.float64)

    def fractions(self) -> npt.NDArray[np.float64]:
        """``extended_counts()`` divided by the non-NaN count; all zeros when empty."""
        ext = self.extended_counts()
        n = ext.sum()
        # Zeros instead of 0/0 NaNs: an empty window means "no evidence", not "invalid".
        return ext / n if n > 0 else ext
