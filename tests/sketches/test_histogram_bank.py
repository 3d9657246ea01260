"""HistogramBank counts exactly what BinnedHistogram.update counts, column by column."""

from __future__ import annotations

import numpy as np
import pytest

from otel_drift._internal.sketches import BinnedHistogram, HistogramBank
from otel_drift._internal.sketches.histogram_bank import MAX_COMPARED_EDGES


def _edges(rng: np.random.Generator, count: int) -> np.ndarray:
    return np.unique(np.round(rng.normal(size=count), 2))


def _awkward_block(rng: np.random.Generator, edges: list[np.ndarray], rows: int) -> np.ndarray:
    block = rng.normal(scale=1.5, size=(rows, len(edges)))
    for column, column_edges in enumerate(edges):
        # Exactly on edges (half-open bins, closed last bin), infinities and NaN.
        block[rng.integers(0, rows, 5), column] = rng.choice(column_edges, 5)
        block[rng.integers(0, rows, 2), column] = column_edges[-1]
        block[rng.integers(0, rows, 2), column] = column_edges[0]
        block[rng.integers(0, rows, 2), column] = np.inf
        block[rng.integers(0, rows, 2), column] = -np.inf
        block[rng.integers(0, rows, 3), column] = np.nan
    return block


@pytest.mark.parametrize("widest", [3, 11, MAX_COMPARED_EDGES, MAX_COMPARED_EDGES + 7])
@pytest.mark.parametrize("rows", [1, 7, 64, 1000, 5000])
def test_counts_equal_one_histogram_per_column(widest: int, rows: int) -> None:
    rng = np.random.default_rng(widest * 1000 + rows)
    edges = [_edges(rng, count) for count in (widest, 2, max(2, widest // 2), widest)]
    edges = [e if e.size >= 2 else np.array([0.0, 1.0]) for e in edges]
    block = _awkward_block(rng, edges, rows)
    banked = [BinnedHistogram(e) for e in edges]
    alone = [BinnedHistogram(e) for e in edges]
    bank = HistogramBank(banked)
    bank.update(block)
    bank.update(block[: rows // 2])  # a second, shorter block adds up
    for column, histogram in enumerate(alone):
        histogram.update(block[:, column])
        histogram.update(block[: rows // 2, column])
    for got, want in zip(banked, alone, strict=True):
        assert got.extended_counts().tolist() == want.extended_counts().tolist()
        assert (got.nan, got.total) == (want.nan, want.total)


def test_block_without_nan_or_rows() -> None:
    histograms = [BinnedHistogram([0.0, 1.0, 2.0]), BinnedHistogram([5.0, 6.0])]
    bank = HistogramBank(histograms)
    bank.update(np.empty((0, 2)))
    bank.update(np.array([[0.5, 5.0], [2.0, 6.0], [3.0, 7.0]]))
    assert histograms[0].extended_counts().tolist() == [0, 1, 1, 1]
    assert histograms[1].extended_counts().tolist() == [0, 2, 1]
    assert histograms[0].nan == histograms[1].nan == 0


def test_wrong_width_is_refused() -> None:
    bank = HistogramBank([BinnedHistogram([0.0, 1.0])])
    with pytest.raises(ValueError, match=r"\(rows, 1\)"):
        bank.update(np.zeros((3, 2)))


@pytest.mark.parametrize("widest", [11, MAX_COMPARED_EDGES + 7])
def test_parts_of_one_block_count_as_separate_blocks(widest: int) -> None:
    rng = np.random.default_rng(widest)
    edges = [_edges(rng, widest), np.array([-1.0, 0.0, 1.0])]
    block = _awkward_block(rng, edges, 5000)
    parted = HistogramBank([BinnedHistogram(e) for e in edges])
    one_by_one = [BinnedHistogram(e) for e in edges]
    alone = HistogramBank(one_by_one)
    parts = [10, 0, 4100, 890]
    found = parted.count(block, parts)
    assert len(found) == len(parts)
    start = 0
    for counts, part in zip(found, parts, strict=True):
        (want,) = alone.count(block[start : start + part])
        assert counts.tolist() == want.tolist()
        start += part
    with pytest.raises(ValueError, match="do not split"):
        parted.count(block, [10, 10])


def test_a_second_bank_over_the_same_histograms_adds_one_by_one() -> None:
    histograms = [BinnedHistogram([0.0, 1.0, 2.0]), BinnedHistogram([5.0, 6.0])]
    first = HistogramBank(histograms)  # now holds their counts in its own array
    assert all(h.counts_shared for h in histograms)
    second = HistogramBank(histograms[::-1])
    block = np.array([[0.5, 5.0], [2.0, 6.0], [3.0, np.nan]])
    first.update(block)
    second.update(block[:, ::-1])
    assert histograms[0].extended_counts().tolist() == [0, 2, 2, 2]
    assert histograms[1].extended_counts().tolist() == [0, 4, 0]
    assert histograms[1].nan == 2
    lifetime = histograms[0].copy()  # a copy is independent of the bank
    first.update(block)
    assert lifetime.total == 6 and histograms[0].total == 9
