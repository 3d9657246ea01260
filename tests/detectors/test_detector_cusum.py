"""Vectorized CUSUM against a plain per-sample loop, and its run-length behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from otel_drift._internal.detectors.cusum import Cusum, CusumUpdate

FloatArray = NDArray[np.float64]


class LoopCusum:
    """The textbook recursion, one sample at a time."""

    def __init__(self, mean: float, std: float, k: float = 0.5) -> None:
        self.mean, self.std, self.k = mean, std, k
        self.upper = self.lower = 0.0

    def update(self, values: list[float]) -> tuple[float, float, int]:
        highest = max(self.upper, self.lower)
        count = 0
        for x in values:
            if not math.isfinite(x):
                continue
            z = (x - self.mean) / self.std
            self.upper = max(0.0, self.upper + z - self.k)
            self.lower = max(0.0, self.lower - z - self.k)
            statistic = max(self.upper, self.lower)
            highest = statistic if count == 0 else max(highest, statistic)
            count += 1
        return highest, max(self.upper, self.lower), count


def assert_same(update: CusumUpdate, reference: tuple[float, float, int]) -> None:
    assert abs(update.max_statistic - reference[0]) <= 1e-9
    assert abs(update.last_statistic - reference[1]) <= 1e-9
    assert update.count == reference[2]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_matches_loop_on_arbitrarily_split_batches(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mean, std, k = float(rng.normal(50.0, 10.0)), float(rng.uniform(0.5, 5.0)), 0.5
    # Stationary, then shifted up, then down, so both sides carry state.
    stream = np.concatenate(
        [
            rng.normal(mean, std, 700),
            rng.normal(mean + 1.5 * std, std, 300),
            rng.normal(mean - 2.0 * std, std, 500),
        ]
    )
    stream[rng.choice(stream.size, 40, replace=False)] = np.nan
    stream[rng.choice(stream.size, 5, replace=False)] = np.inf
    cuts = np.sort(rng.integers(0, stream.size, 25))  # repeated cuts = empty batches
    vectorized, loop = Cusum(mean, std, k), LoopCusum(mean, std, k)
    for batch in np.split(stream, cuts):
        assert_same(vectorized.update(batch), loop.update(batch.tolist()))
        assert abs(vectorized.statistic - max(loop.upper, loop.lower)) <= 1e-9


def test_matches_loop_across_internal_blocks() -> None:
    # Longer than one internal block, with the state carried in from before.
    rng = np.random.default_rng(10)
    vectorized, loop = Cusum(0.0, 1.0, 0.25), LoopCusum(0.0, 1.0, 0.25)
    first = rng.normal(0.8, 1.0, 50)
    assert_same(vectorized.update(first), loop.update(first.tolist()))
    long = np.concatenate([rng.normal(0.0, 1.0, 20_000), rng.normal(0.6, 1.0, 5_000)])
    assert_same(vectorized.update(long), loop.update(long.tolist()))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), max_size=60),
    cut=st.integers(0, 60),
    k=st.floats(0.0, 3.0),
)
def test_matches_loop_property(values: list[float], cut: int, k: float) -> None:
    vectorized, loop = Cusum(1.0, 2.0, k), LoopCusum(1.0, 2.0, k)
    for batch in (values[:cut], values[cut:]):
        update = vectorized.update(np.array(batch, dtype=np.float64))
        reference = loop.update(batch)
        assert update.count == reference[2]
        assert update.max_statistic == pytest.approx(reference[0], rel=1e-12, abs=1e-9)
        assert update.last_statistic == pytest.approx(reference[1], rel=1e-12, abs=1e-9)


def run_length(stream: FloatArray, h: float) -> int | None:
    """Samples until a fresh CUSUM first reaches h (None: never), by bisection."""
    if Cusum(0.0, 1.0).update(stream).max_statistic < h:
        return None
    lo, hi = 0, stream.size
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if Cusum(0.0, 1.0).update(stream[:mid]).max_statistic >= h:
            hi = mid
        else:
            lo = mid
    return hi


def loop_alarms(stream: FloatArray, h: float) -> list[int]:
    """1-based positions where the statistic reaches h, resetting after each."""
    upper = lower = 0.0
    alarms = []
    for t, z in enumerate(stream.tolist(), start=1):
        upper = max(0.0, upper + z - 0.5)
        lower = max(0.0, lower - z - 0.5)
        if max(upper, lower) >= h:
            alarms.append(t)
            upper = lower = 0.0
    return alarms


def test_detects_a_one_sigma_shift_within_a_few_dozen_samples() -> None:
    rng = np.random.default_rng(42)
    assert run_length(rng.normal(1.0, 1.0, 200), 5.0) == 14
    # Over many seeded streams: the classic ARL1 for k=0.5, h=5, 1 sigma is about 10.4.
    delays = [run_length(rng.normal(1.0, 1.0, 200), 5.0) for _ in range(1000)]
    finite = [d for d in delays if d is not None]
    assert len(finite) == 1000
    assert max(finite) <= 60
    assert 9.8 <= float(np.mean(finite)) <= 11.0


def test_stationary_stream_behaviour_at_h5() -> None:
    # At k=0.5, h=5 the in-control ARL of the two-sided chart is only ~465
    # samples, so a 2000-sample stationary stream is *expected* to alarm a few
    # times: here exactly 4 times for this seed (plain loop agrees).
    rng = np.random.default_rng(2000)
    stream = rng.normal(0.0, 1.0, 2000)
    alarms, position = [], 0
    while (length := run_length(stream[position:], 5.0)) is not None:
        position += length
        alarms.append(position)
    assert alarms == [585, 689, 736, 1690]
    assert alarms == loop_alarms(stream, 5.0)
    # The first 500 samples stay quiet.
    assert Cusum(0.0, 1.0).update(stream[:500]).max_statistic < 5.0


def test_in_control_average_run_length() -> None:
    rng = np.random.default_rng(123)
    lengths = [run_length(rng.normal(0.0, 1.0, 10_000), 5.0) for _ in range(300)]
    finite = [n for n in lengths if n is not None]
    assert len(finite) == 300
    # Siegmund's approximation gives ~469; 300 streams leave a ~6 % standard error.
    assert 400.0 <= float(np.mean(finite)) <= 560.0


def test_reset_empty_batches_and_statistic() -> None:
    cusum = Cusum(10.0, 2.0)
    assert cusum.statistic == 0.0
    first = cusum.update(np.array([14.0, 14.0]))  # z = 2: S+ = 1.5, then 3.0
    assert first == CusumUpdate(max_statistic=3.0, last_statistic=3.0, count=2)
    # A batch with nothing usable keeps the state and reports it.
    assert cusum.update(np.array([np.nan, -np.inf])) == CusumUpdate(3.0, 3.0, 0)
    assert cusum.update(np.array([], dtype=np.float64)) == CusumUpdate(3.0, 3.0, 0)
    # max_statistic is over the batch only, not the carried-in value.
    down = cusum.update(np.array([6.0]))  # z = -2: S+ = 0.5, S- = 1.5
    assert down == CusumUpdate(max_statistic=1.5, last_statistic=1.5, count=1)
    cusum.reset()
    assert cusum.statistic == 0.0


@pytest.mark.parametrize("std", [0.0, -1.0])
def test_non_positive_std_means_raw_units(std: float) -> None:
    cusum = Cusum(5.0, std, k=0.5)
    assert cusum.update(np.array([7.0])).last_statistic == pytest.approx(1.5)


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="mean"):
        Cusum(math.nan, 1.0)
    with pytest.raises(ValueError, match="std"):
        Cusum(0.0, math.inf)
    with pytest.raises(ValueError, match="k"):
        Cusum(0.0, 1.0, k=-0.1)
