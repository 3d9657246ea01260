"""Tests for BinnedHistogram: exact counts, edge conventions, merge == concatenation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_drift._internal.sketches import BinnedHistogram

EDGES = [0.0, 1.0, 2.0, 4.0]


def _arr(*values: float) -> npt.NDArray[np.float64]:
    return np.array(values, dtype=np.float64)


def _state(h: BinnedHistogram) -> tuple[list[int], int, int, int, int]:
    return h.bin_counts.tolist(), h.underflow, h.overflow, h.nan, h.total


@pytest.mark.parametrize(
    "edges",
    [
        [],
        [1.0],
        [0.0, 0.0],
        [1.0, 0.0],
        [0.0, 2.0, 1.0],
        [0.0, np.nan],
        [0.0, np.inf],
        [[0.0, 1.0], [2.0, 3.0]],
    ],
)
def test_invalid_edges_rejected(edges: list[float]) -> None:
    with pytest.raises(ValueError):
        BinnedHistogram(edges)


def test_values_on_edges_follow_numpy_convention() -> None:
    h = BinnedHistogram(EDGES)
    h.update(_arr(0.0, 1.0, 2.0, 4.0, -0.0, 0.5, 3.999, np.nextafter(0.0, -1.0), 4.0000001))
    # [0,1): 0.0, -0.0, 0.5 | [1,2): 1.0 | [2,4]: 2.0, 4.0, 3.999
    assert h.bin_counts.tolist() == [3, 1, 3]
    assert (h.underflow, h.overflow, h.nan, h.total) == (1, 1, 0, 9)
    expected, _ = np.histogram(_arr(0.0, 1.0, 2.0, 4.0, -0.0, 0.5, 3.999), bins=EDGES)
    assert h.bin_counts.tolist() == expected.tolist()


def test_nan_and_infinities() -> None:
    h = BinnedHistogram(EDGES)
    h.update(_arr(np.nan, np.inf, -np.inf, np.nan, 1.5, -5.0, 7.0))
    assert h.bin_counts.tolist() == [0, 1, 0]
    assert (h.underflow, h.overflow, h.nan, h.total) == (2, 2, 2, 7)
    assert h.extended_counts().tolist() == [2.0, 0.0, 1.0, 0.0, 2.0]


def test_empty_batch_is_a_no_op() -> None:
    h = BinnedHistogram(EDGES)
    h.update(np.empty(0, dtype=np.float64))
    assert _state(h) == ([0, 0, 0], 0, 0, 0, 0)
    assert h.fractions().tolist() == [0.0] * 5


def test_matches_numpy_histogram_on_random_data() -> None:
    rng = np.random.default_rng(1)
    edges = np.sort(rng.uniform(-3, 3, size=20))
    data = np.concatenate([rng.normal(size=50_000), edges, edges])  # many exact edge hits
    h = BinnedHistogram(edges.tolist())
    h.update(data)
    expected, _ = np.histogram(data, bins=edges)
    assert h.bin_counts.tolist() == expected.tolist()
    assert h.underflow == int((data < edges[0]).sum())
    assert h.overflow == int((data > edges[-1]).sum())
    assert h.total == data.size


def test_accepts_lists_and_nd_arrays() -> None:
    h = BinnedHistogram(EDGES)
    h.update([0.5, 1.5])
    h.update(np.array([[0.5, 3.0], [9.0, np.nan]]))
    assert _state(h) == ([2, 1, 1], 0, 1, 1, 6)


def test_fractions_exclude_nan() -> None:
    h = BinnedHistogram(EDGES)
    h.update(_arr(-1.0, 0.5, 0.5, 3.0, np.nan))
    np.testing.assert_array_equal(h.fractions(), [0.25, 0.5, 0.0, 0.25, 0.0])


def test_merge_requires_same_edges() -> None:
    with pytest.raises(ValueError):
        BinnedHistogram(EDGES).merge(BinnedHistogram([0.0, 1.0, 2.0, 5.0]))
    with pytest.raises(ValueError):
        BinnedHistogram(EDGES).merge(BinnedHistogram([0.0, 1.0]))


def test_self_merge_doubles() -> None:
    h = BinnedHistogram(EDGES)
    h.update(_arr(-1.0, 0.5, 9.0, np.nan))
    h.merge(h)
    assert _state(h) == ([2, 0, 0], 2, 2, 2, 8)


def test_copy_is_independent_and_reset_clears() -> None:
    h = BinnedHistogram(EDGES)
    h.update(_arr(0.5, 1.5, np.nan))
    c = h.copy()
    h.update(_arr(3.0))
    assert _state(c) == ([1, 1, 0], 0, 0, 1, 3)
    h.reset()
    assert _state(h) == ([0, 0, 0], 0, 0, 0, 0)
    assert c.total == 3
    np.testing.assert_array_equal(h.edges, EDGES)


def test_exposed_arrays_cannot_corrupt_state() -> None:
    h = BinnedHistogram(EDGES)
    h.update(_arr(0.5))
    h.bin_counts[0] = 100
    h.extended_counts()[1] = 100.0
    assert h.bin_counts.tolist() == [1, 0, 0]
    with pytest.raises(ValueError):
        h.edges[0] = -1.0


_values = st.lists(
    st.one_of(
        st.floats(min_value=-2.0, max_value=6.0),
        st.sampled_from([*EDGES, np.nan, np.inf, -np.inf]),
    ),
    max_size=40,
)


@settings(max_examples=50, deadline=None)
@given(a=_values, b=_values)
def test_merge_equals_concatenation(a: list[float], b: list[float]) -> None:
    ha, hb, hab = BinnedHistogram(EDGES), BinnedHistogram(EDGES), BinnedHistogram(EDGES)
    ha.update(np.array(a, dtype=np.float64))
    hb.update(np.array(b, dtype=np.float64))
    hab.update(np.array(a + b, dtype=np.float64))
    ha.merge(hb)
    assert _state(ha) == _state(hab)
    assert ha.total == len(a) + len(b)
