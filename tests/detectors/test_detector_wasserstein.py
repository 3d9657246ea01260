"""Binned W1 against scipy.stats.wasserstein_distance with bin weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from otel_drift._internal.detectors.wasserstein import wasserstein


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for bins in (2, 6, 25):
        # Uneven spacing, as quantile bins have.
        points = np.cumsum(rng.exponential(3.0, bins)) - 10.0
        expected = rng.dirichlet(np.ones(bins))
        observed = rng.multinomial(3000, rng.dirichlet(np.ones(bins))).astype(float)
        scale = float(rng.uniform(0.5, 20.0))
        reference = float(wasserstein_distance(points, points, expected, observed)) / scale
        assert abs(wasserstein(points, expected, observed, scale).score - reference) <= 1e-9


def test_zero_bins_match_scipy() -> None:
    points = np.array([-1.0, 0.0, 1.0, 2.0, 100.0])  # last one: an overflow bin
    expected = np.array([0.0, 0.25, 0.5, 0.25, 0.0])
    observed = np.array([3.0, 0.0, 10.0, 20.0, 2.0])
    reference = float(wasserstein_distance(points, points, expected, observed))
    assert abs(wasserstein(points, expected, observed).score - reference) <= 1e-9


def test_identical_and_one_bin_are_zero() -> None:
    points = np.array([1.0, 2.0, 4.0])
    counts = np.array([5.0, 0.0, 15.0])
    assert wasserstein(points, counts / counts.sum(), counts, 2.0).score == 0.0
    assert wasserstein(np.array([3.0]), np.array([1.0]), np.array([8.0])).score == 0.0


def test_all_mass_moved_by_one_sigma_scores_one() -> None:
    points = np.array([0.0, 5.0])
    result = wasserstein(points, np.array([1.0, 0.0]), np.array([0.0, 7.0]), scale=5.0)
    assert result.score == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [0.0, -3.0, math.nan, math.inf])
def test_unusable_scale_means_raw_units(scale: float) -> None:
    points = np.array([0.0, 1.0, 3.0])
    expected = np.array([0.5, 0.5, 0.0])
    observed = np.array([1.0, 1.0, 2.0])
    raw = wasserstein(points, expected, observed, 1.0).score
    assert wasserstein(points, expected, observed, scale).score == raw


def test_large_n() -> None:
    rng = np.random.default_rng(11)
    points = np.linspace(0.0, 1.0, 40)
    expected = rng.dirichlet(np.ones(40))
    observed = rng.multinomial(10**9, expected).astype(float)
    reference = float(wasserstein_distance(points, points, expected, observed))
    assert abs(wasserstein(points, expected, observed).score - reference) <= 1e-9


def test_bad_points_are_rejected() -> None:
    expected = np.array([0.5, 0.5])
    observed = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match="increasing"):
        wasserstein(np.array([2.0, 1.0]), expected, observed)
    with pytest.raises(ValueError, match="shape"):
        wasserstein(np.array([1.0, 2.0, 3.0]), expected, observed)
    with pytest.raises(ValueError, match="finite"):
        wasserstein(np.array([1.0, math.inf]), expected, observed)
