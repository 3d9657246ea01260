"""Several histograms fed from the columns of one matrix in a single pass.

A model call hands over a whole feature matrix; one histogram per watched
feature would cost a few numpy calls per column, which for 30 narrow columns
is mostly call overhead. A bank bins every column of a ``(rows, columns)``
block with one ``searchsorted`` per column and counts every slot of every
histogram with a single ``bincount``.

Counts are exactly those of :meth:`BinnedHistogram.update` on each column:
half-open bins, the last bin closed, ``±inf`` in underflow/overflow, NaN on
its own.

>>> import numpy as np
>>> rng = np.random.default_rng(11)
>>> first, second = BinnedHistogram([0.0, 1.0, 2.0]), BinnedHistogram([-1.0, 0.0, 1.0, 5.0])
>>> block = rng.normal(size=(500, 2))
>>> block[3, 0], block[4, 1] = np.nan, 5.0
>>> HistogramBank([first, second]).update(block)
>>> alone = [BinnedHistogram([0.0, 1.0, 2.0]), BinnedHistogram([-1.0, 0.0, 1.0, 5.0])]
>>> for column, histogram in enumerate(alone):
...     histogram.update(block[:, column])
>>> [h.extended_counts().tolist() for h in alone] == [
...     h.extended_counts().tolist() for h in (first, second)
... ]
True
>>> first.nan, first.total, second.total
(1, 500, 500)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from otel_drift._internal.sketches.histogram import BinnedHistogram

__all__ = ["HistogramBank"]


#: Up to this many edges per histogram, columns are binned by comparing them with
#: each edge level (branch-free, a few ns a value); wider ones by binary search,
#: whose mispredicted branches cost about 20 ns a value on unseen data.
MAX_COMPARED_EDGES = 24
#: Rows compared per pass: at most 24 x 4096 flags (100 KB) per histogram.
ROWS_PER_PASS = 4096


class HistogramBank:
    """Updates ``histograms[j]`` with column ``j`` of each block it is given.

    Single writer, like the histograms it feeds.
    """

    __slots__ = ("_histograms", "_levels", "_nan_slots", "_search_edges", "_slices", "_total")

    def __init__(self, histograms: Sequence[BinnedHistogram]) -> None:
        self._histograms = tuple(histograms)
        search_edges: list[npt.NDArray[np.float64]] = []
        nan_slots: list[int] = []
        slices: list[tuple[int, int]] = []
        base = 0
        for histogram in self._histograms:
            edges = histogram.edges.copy()
            # Counting edges <= x puts x == edges[-1] in the overflow; the last
            # bin is closed, so count the last edge only for x strictly above it
            # (x > e is exactly x >= nextafter(e, inf) in float64).
            edges[-1] = np.nextafter(edges[-1], np.inf)
            search_edges.append(edges)
            slots = edges.size + 2  # [underflow, bins..., overflow, nan]
            nan_slots.append(edges.size + 1)
            slices.append((base, base + slots))
            base += slots
        self._search_edges = tuple(search_edges)
        self._nan_slots: npt.NDArray[np.intp] = np.array(nan_slots, dtype=np.intp)[:, None]
        self._slices = tuple(slices)
        self._total = base
        # Edge level m of every histogram as a column, NaN where a histogram has
        # fewer edges (x >= NaN is never true): one comparison per level.
        widest = max((e.size for e in search_edges), default=0)
        self._levels: npt.NDArray[np.float64] | None = None
        if 0 < widest <= MAX_COMPARED_EDGES:
            levels = np.full((widest, len(search_edges), 1), np.nan)
            for column, edges in enumerate(search_edges):
                levels[: edges.size, column, 0] = edges
            self._levels = levels

    @property
    def width(self) -> int:
        """How many columns each block must have."""
        return len(self._histograms)

    def update(self, block: npt.NDArray[np.float64]) -> None:
        """Count column ``j`` of the float64 ``(rows, width)`` ``block`` into histogram ``j``."""
        if block.ndim != 2 or block.shape[1] != len(self._histograms):
            raise ValueError(f"expected a (rows, {len(self._histograms)}) block, got {block.shape}")
        if block.shape[0] == 0:
            return
        # One contiguous row per histogram: every pass below reads it sequentially.
        columns = np.ascontiguousarray(block.T)
        nan = np.isnan(columns)
        nans = _count_true(nan) if nan.any() else None
        if self._levels is None:
            counts = self._searched(columns, nan if nans is not None else None)
        else:
            counts = self._compared(columns, nans)
        for row, histogram in enumerate(self._histograms):
            start, stop = self._slices[row]
            histogram.add_slot_counts(counts[row, : stop - start])

    def _compared(
        self, columns: npt.NDArray[np.float64], nans: npt.NDArray[np.intp] | None
    ) -> npt.NDArray[np.intp]:
        """Slot counts from how many values reach each edge level (no per-value index)."""
        assert self._levels is not None
        levels = self._levels.shape[0]
        # reached[0] = values that are not NaN; reached[1 + m] = values >= level m;
        # the last row stays 0. Slot s then holds reached[s] - reached[s + 1].
        reached = np.zeros((levels + 2, columns.shape[0]), dtype=np.intp)
        reached[0] = columns.shape[1] - (nans if nans is not None else 0)
        # Every level at once (one ufunc call, not one per level), in slices of
        # rows that keep the (levels, histograms, rows) flags small.
        for start in range(0, columns.shape[1], ROWS_PER_PASS):
            part = columns[:, start : start + ROWS_PER_PASS]
            above = np.greater_equal(part[None], self._levels)
            reached[1:-1] += _count_true(above)
        counts = np.zeros((columns.shape[0], levels + 2), dtype=np.intp)
        counts[:, : levels + 1] = (reached[:-1] - reached[1:]).T
        if nans is not None:
            counts[np.arange(columns.shape[0]), self._nan_slots[:, 0]] += nans
        return counts

    def _searched(
        self, columns: npt.NDArray[np.float64], nan: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.intp]:
        """Slot counts from each value's slot, found by binary search (wide histograms)."""
        slots = np.empty(columns.shape, dtype=np.intp)
        for row, edges in enumerate(self._search_edges):
            slots[row] = edges.searchsorted(columns[row], side="right")
        if nan is not None:
            # searchsorted sorts NaN past every edge (the overflow slot).
            np.copyto(slots, self._nan_slots, where=nan)
        widest = max(stop - start for start, stop in self._slices)
        slots += np.arange(columns.shape[0], dtype=np.intp)[:, None] * widest
        counts = np.bincount(slots.ravel(), minlength=columns.shape[0] * widest)
        return counts.reshape(columns.shape[0], widest)


def _count_true(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """True values along the last axis (bit-packed popcount: fast on long rows)."""
    if _popcount is None:  # numpy < 2.0
        return flags.sum(axis=-1, dtype=np.intp)  # type: ignore[no-any-return]
    packed = np.packbits(flags, axis=-1)
    counts: npt.NDArray[np.intp] = _popcount(packed).sum(axis=-1, dtype=np.intp)
    return counts


_popcount = getattr(np, "bitwise_count", None)
