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

    Single writer, like the histograms it feeds. The first bank made over a
    set of histograms keeps their counts in one array of its own (each
    histogram then counts in a row of it), so adding a block's counts is one
    numpy call rather than one per histogram.
    """

    __slots__ = (
        "_histograms",
        "_levels",
        "_nan_slots",
        "_search_edges",
        "_shared",
        "_slices",
        "_width",
    )

    def __init__(self, histograms: Sequence[BinnedHistogram]) -> None:
        self._histograms = tuple(histograms)
        search_edges: list[npt.NDArray[np.float64]] = []
        nan_slots: list[int] = []
        slices: list[int] = []
        for histogram in self._histograms:
            edges = histogram.edges.copy()
            # Counting edges <= x puts x == edges[-1] in the overflow; the last
            # bin is closed, so count the last edge only for x strictly above it
            # (x > e is exactly x >= nextafter(e, inf) in float64).
            edges[-1] = np.nextafter(edges[-1], np.inf)
            search_edges.append(edges)
            slices.append(edges.size + 2)  # [underflow, bins..., overflow, nan]
            nan_slots.append(edges.size + 1)
        self._search_edges = tuple(search_edges)
        self._nan_slots: npt.NDArray[np.intp] = np.array(nan_slots, dtype=np.intp)[:, None]
        self._slices = tuple(slices)
        widest = max((e.size for e in search_edges), default=0)
        #: Slots per histogram in every counts array: the widest histogram's.
        self._width = widest + 2
        # Edge level m of every histogram as a column, NaN where a histogram has
        # fewer edges (x >= NaN is never true): one comparison per level.
        self._levels: npt.NDArray[np.float64] | None = None
        if 0 < widest <= MAX_COMPARED_EDGES:
            levels = np.full((widest, len(search_edges), 1), np.nan)
            for column, edges in enumerate(search_edges):
                levels[: edges.size, column, 0] = edges
            self._levels = levels
        self._shared: npt.NDArray[np.int64] | None = None
        if self._histograms and not any(h.counts_shared for h in self._histograms):
            shared = np.zeros((len(self._histograms), self._width), dtype=np.int64)
            for row, histogram in enumerate(self._histograms):
                histogram.share_counts(shared[row, : self._slices[row]])
            self._shared = shared

    def update(self, block: npt.NDArray[np.float64]) -> None:
        """Count column ``j`` of the float64 ``(rows, width)`` ``block`` into histogram ``j``."""
        for counts in self.count(block):
            self.add(counts)

    def count(
        self, block: npt.NDArray[np.float64], parts: Sequence[int] | None = None
    ) -> list[npt.NDArray[np.intp]]:
        """Slot counts of ``block``, per part: ``parts`` are consecutive row counts.

        Counting the parts of one block in one pass shares the comparisons (a
        batch that straddles two windows is binned once, not twice).
        """
        if block.ndim != 2 or block.shape[1] != len(self._histograms):
            raise ValueError(f"expected a (rows, {len(self._histograms)}) block, got {block.shape}")
        rows = block.shape[0]
        bounds = _bounds(parts if parts is not None else [rows], rows)
        if rows == 0:
            return [np.zeros((len(self._histograms), self._width), np.intp) for _ in bounds]
        # One contiguous row per histogram: every pass below reads it sequentially.
        columns = np.ascontiguousarray(block.T)
        nan = np.isnan(columns)
        has_nan = bool(nan.any())
        if self._levels is None:
            return self._searched(columns, nan if has_nan else None, bounds)
        return self._compared(columns, nan if has_nan else None, bounds)

    def add(self, counts: npt.NDArray[np.intp]) -> None:
        """Add counts from :meth:`count` to the histograms."""
        if self._shared is not None:
            self._shared += counts
            return
        for row, histogram in enumerate(self._histograms):
            histogram.add_slot_counts(counts[row, : self._slices[row]])

    def _compared(
        self,
        columns: npt.NDArray[np.float64],
        nan: npt.NDArray[np.bool_] | None,
        bounds: list[tuple[int, int]],
    ) -> list[npt.NDArray[np.intp]]:
        """Slot counts from how many values reach each edge level (no per-value index)."""
        assert self._levels is not None
        levels = self._levels.shape[0]
        histograms = columns.shape[0]
        # Per part: reached[0] = values that are not NaN; reached[1 + m] = values
        # >= level m; the last row stays 0. Slot s then holds reached[s] - reached[s + 1].
        reached = [np.zeros((levels + 2, histograms), dtype=np.intp) for _ in bounds]
        nans = [None if nan is None else _count_true(nan[:, start:stop]) for start, stop in bounds]
        for part, missing, (start, stop) in zip(reached, nans, bounds, strict=True):
            part[0] = stop - start
            if missing is not None:
                part[0] -= missing
        # Every level at once (one ufunc call, not one per level), in passes of
        # rows that keep the (levels, histograms, rows) flags small.
        for first in range(0, columns.shape[1], ROWS_PER_PASS):
            last = min(first + ROWS_PER_PASS, columns.shape[1])
            above = np.greater_equal(columns[None, :, first:last], self._levels)
            for part, (start, stop) in zip(reached, bounds, strict=True):
                low, high = max(start, first), min(stop, last)
                if low < high:
                    part[1:-1] += _count_true(above[..., low - first : high - first])
        found = []
        for part, missing in zip(reached, nans, strict=True):
            counts = np.zeros((histograms, levels + 2), dtype=np.intp)
            counts[:, : levels + 1] = (part[:-1] - part[1:]).T
            if missing is not None:
                counts[np.arange(histograms), self._nan_slots[:, 0]] += missing
            found.append(counts)
        return found

    def _searched(
        self,
        columns: npt.NDArray[np.float64],
        nan: npt.NDArray[np.bool_] | None,
        bounds: list[tuple[int, int]],
    ) -> list[npt.NDArray[np.intp]]:
        """Slot counts from each value's slot, found by binary search (wide histograms)."""
        slots = np.empty(columns.shape, dtype=np.intp)
        for row, edges in enumerate(self._search_edges):
            slots[row] = edges.searchsorted(columns[row], side="right")
        if nan is not None:
            # searchsorted sorts NaN past every edge (the overflow slot).
            np.copyto(slots, self._nan_slots, where=nan)
        histograms = columns.shape[0]
        slots += np.arange(histograms, dtype=np.intp)[:, None] * self._width
        return [
            np.bincount(slots[:, start:stop].ravel(), minlength=histograms * self._width).reshape(
                histograms, self._width
            )
            for start, stop in bounds
        ]


def _bounds(parts: Sequence[int], rows: int) -> list[tuple[int, int]]:
    if any(part < 0 for part in parts) or sum(parts) != rows:
        raise ValueError(f"parts {list(parts)} do not split {rows} rows")
    bounds = []
    start = 0
    for part in parts:
        bounds.append((start, start + part))
        start += part
    return bounds


def _count_true(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """True values along the last axis (bit-packed popcount: fast on long rows)."""
    if _popcount is None:  # numpy < 2.0
        return flags.sum(axis=-1, dtype=np.intp)  # type: ignore[no-any-return]
    packed = np.packbits(flags, axis=-1)
    counts: npt.NDArray[np.intp] = _popcount(packed).sum(axis=-1, dtype=np.intp)
    return counts


_popcount = getattr(np, "bitwise_count", None)
