"""Tests for RunningMoments: accuracy with a large offset, NaN handling, merge."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_drift._internal.sketches import RunningMoments


def _arr(*values: float) -> npt.NDArray[np.float64]:
    return np.array(values, dtype=np.float64)


def test_large_offset_matches_numpy() -> None:
    rng = np.random.default_rng(12345)
    data = 1e9 + rng.normal(0.0, 1.0, size=1_000_000)
    m = RunningMoments()
    # Uneven batches, including tiny ones, exercise the combination step.
    bounds = np.sort(rng.choice(np.arange(1, data.size), size=150, replace=False))
    for batch in np.split(data, bounds):
        m.update(batch)
    assert m.count == data.size
    assert m.mean == pytest.approx(np.mean(data), rel=1e-9)
    assert m.variance == pytest.approx(np.var(data), rel=1e-9)
    assert m.sample_variance == pytest.approx(np.var(data, ddof=1), rel=1e-9)
    assert m.std == pytest.approx(np.std(data), rel=1e-9)
    assert m.sample_std == pytest.approx(np.std(data, ddof=1), rel=1e-9)
    assert (m.min, m.max) == (data.min(), data.max())


def test_hand_made_values() -> None:
    m = RunningMoments()
    m.update(_arr(2.0, 4.0, np.nan))
    m.update(_arr(4.0, 4.0, 5.0, 5.0, 7.0, 9.0))
    assert (m.count, m.nan) == (8, 1)
    assert m.mean == 5.0
    assert m.variance == 4.0
    assert m.std == 2.0
    assert m.sample_variance == pytest.approx(32.0 / 7.0)
    assert (m.min, m.max) == (2.0, 9.0)


def test_empty_and_all_nan() -> None:
    m = RunningMoments()
    m.update(np.empty(0, dtype=np.float64))
    m.update(_arr(np.nan, np.nan))
    assert (m.count, m.nan) == (0, 2)
    for stat in (m.mean, m.variance, m.sample_variance, m.std, m.sample_std, m.min, m.max):
        assert math.isnan(stat)


def test_single_value() -> None:
    m = RunningMoments()
    m.update([3.5])
    assert (m.mean, m.variance, m.min, m.max) == (3.5, 0.0, 3.5, 3.5)
    assert math.isnan(m.sample_variance)


def test_infinity_is_kept_like_numpy() -> None:
    m = RunningMoments()
    m.update(_arr(1.0, np.inf))
    assert m.mean == np.inf
    assert m.max == np.inf
    assert math.isnan(m.variance)  # as np.var([1.0, np.inf])
    assert m.count == 2


def test_merge_with_empty_both_ways() -> None:
    m, empty = RunningMoments(), RunningMoments()
    m.update(_arr(1.0, 3.0))
    m.merge(empty)
    assert (m.count, m.mean, m.variance) == (2, 2.0, 1.0)
    empty.merge(m)
    assert (empty.count, empty.mean, empty.variance, empty.min, empty.max) == (
        2,
        2.0,
        1.0,
        1.0,
        3.0,
    )


def test_self_merge() -> None:
    m = RunningMoments()
    m.update(_arr(1.0, 3.0, np.nan))
    m.merge(m)
    assert (m.count, m.nan, m.mean, m.variance) == (4, 2, 2.0, 1.0)


def test_copy_and_reset() -> None:
    m = RunningMoments()
    m.update(_arr(1.0, 2.0, np.nan))
    c = m.copy()
    m.update(_arr(100.0))
    m.reset()
    assert (m.count, m.nan) == (0, 0)
    assert math.isnan(m.mean)
    assert (c.count, c.nan, c.mean, c.min, c.max) == (2, 1, 1.5, 1.0, 2.0)


_values = st.lists(
    st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.just(math.nan)), max_size=40
)


@settings(max_examples=50, deadline=None)
@given(a=_values, b=_values)
def test_merge_equals_concatenation(a: list[float], b: list[float]) -> None:
    ma, mb, mab = RunningMoments(), RunningMoments(), RunningMoments()
    ma.update(np.array(a, dtype=np.float64))
    mb.update(np.array(b, dtype=np.float64))
    mab.update(np.array(a + b, dtype=np.float64))
    ma.merge(mb)
    assert (ma.count, ma.nan) == (mab.count, mab.nan)
    finite = [v for v in a + b if not math.isnan(v)]
    if not finite:
        assert math.isnan(ma.mean)
        return
    assert (ma.min, ma.max) == (min(finite), max(finite))
    # Float sums depend on grouping, so only exact up to rounding, scaled by the data.
    scale = max(abs(v) for v in finite)
    assert ma.mean == pytest.approx(mab.mean, rel=1e-9, abs=1e-12 * scale)
    assert ma.variance == pytest.approx(mab.variance, rel=1e-9, abs=1e-9 * scale**2)
    assert ma.variance == pytest.approx(float(np.var(finite)), rel=1e-9, abs=1e-9 * scale**2)
