"""Binned two-sample KS against scipy.stats.ks_2samp and scipy.special.kolmogorov/kolmogi."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import kolmogi, kolmogorov
from scipy.stats import ks_2samp

from otel_drift._internal.detectors.kolmogorov_smirnov import (
    kolmogorov_isf,
    kolmogorov_sf,
    ks,
)


def test_sf_matches_scipy_kolmogorov() -> None:
    # Dense around the switch between the two series (0.82) and into both tails.
    grid = np.concatenate([np.linspace(0.0, 3.0, 601), np.linspace(0.8, 0.84, 81), [5.0, 8.0]])
    for lam in grid.tolist():
        assert abs(kolmogorov_sf(lam) - float(kolmogorov(lam))) <= 1e-12


def test_sf_is_monotone() -> None:
    values = [kolmogorov_sf(lam) for lam in np.linspace(0.0, 4.0, 4001).tolist()]
    assert all(b <= a for a, b in itertools.pairwise(values))


@pytest.mark.parametrize("alpha", [1e-12, 1e-6, 0.001, 0.01, 0.05, 0.1, 0.5, 0.9, 0.999])
def test_isf_matches_scipy_kolmogi(alpha: float) -> None:
    assert abs(kolmogorov_isf(alpha) - float(kolmogi(alpha))) <= 1e-9


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 2.0])
def test_isf_rejects_alpha_outside_unit_interval(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        kolmogorov_isf(alpha)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_statistic_matches_ks_2samp_on_integer_samples(seed: int) -> None:
    # Integer values sitting on the bin boundaries: binning loses nothing, so
    # the binned D equals the raw two-sample D exactly.
    rng = np.random.default_rng(seed)
    bins = int(rng.integers(2, 30))
    baseline = rng.integers(0, bins, int(rng.integers(50, 3000)))
    live = np.minimum(rng.poisson(bins / 2.0, int(rng.integers(20, 2000))), bins - 1)
    expected = np.bincount(baseline, minlength=bins) / baseline.size
    observed = np.bincount(live, minlength=bins).astype(float)
    m, n = baseline.size, live.size

    result = ks(expected, observed, baseline_samples=m, alpha=0.05)

    reference = ks_2samp(live, baseline)
    assert abs(result.score - float(reference.statistic)) <= 1e-9
    n_eff = n * m / (n + m)
    assert result.p_value is not None
    assert abs(result.p_value - float(kolmogorov(result.score * math.sqrt(n_eff)))) <= 1e-9
    assert result.critical_value is not None
    assert abs(result.critical_value - float(kolmogi(0.05)) / math.sqrt(n_eff)) <= 1e-9


def test_population_baseline_uses_n() -> None:
    expected = np.array([0.1, 0.2, 0.3, 0.4])
    observed = np.array([20.0, 20.0, 30.0, 30.0])
    result = ks(expected, observed, baseline_samples=None, alpha=0.01)
    assert result.score == pytest.approx(0.1)
    assert result.p_value == pytest.approx(float(kolmogorov(0.1 * 10.0)), abs=1e-12)
    assert result.critical_value == pytest.approx(float(kolmogi(0.01)) / 10.0, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_p_value_and_critical_value_agree(alpha: float) -> None:
    rng = np.random.default_rng(17)
    disagreements = 0
    rejections = 0
    for _ in range(400):
        bins = int(rng.integers(2, 12))
        expected = rng.dirichlet(np.ones(bins))
        # A mix of null and drifted windows so both outcomes are exercised.
        truth = expected if rng.random() < 0.5 else rng.dirichlet(np.ones(bins))
        observed = rng.multinomial(int(rng.integers(5, 400)), truth).astype(float)
        m = None if rng.random() < 0.5 else int(rng.integers(10, 1000))
        r = ks(expected, observed, baseline_samples=m, alpha=alpha)
        assert r.p_value is not None
        assert r.critical_value is not None
        rejects = r.p_value <= alpha
        rejections += rejects
        disagreements += rejects != (r.score >= r.critical_value)
    assert disagreements == 0
    assert 0 < rejections < 400


def test_identical_distributions() -> None:
    counts = np.array([4.0, 0.0, 6.0, 10.0])
    result = ks(counts / counts.sum(), counts, baseline_samples=None, alpha=0.05)
    assert result.score == 0.0
    assert result.p_value == 1.0


def test_zero_bins_and_one_bin() -> None:
    result = ks(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 5.0]), None, 0.05)
    assert result.score == 1.0
    assert result.p_value is not None
    assert 0.0 <= result.p_value < 0.01
    one = ks(np.array([1.0]), np.array([12.0]), None, 0.05)
    assert one.score == 0.0
    assert one.p_value == 1.0


def test_large_n() -> None:
    rng = np.random.default_rng(21)
    expected = rng.dirichlet(np.ones(50))
    observed = rng.multinomial(10**8, expected).astype(float)
    result = ks(expected, observed, baseline_samples=None, alpha=0.05)
    assert result.p_value is not None
    assert abs(result.p_value - float(kolmogorov(result.score * 1e4))) <= 1e-9
    drifted = rng.multinomial(10**8, rng.dirichlet(np.ones(50))).astype(float)
    assert ks(expected, drifted, None, 0.05).p_value == 0.0


def test_bad_baseline_samples() -> None:
    with pytest.raises(ValueError, match="baseline_samples"):
        ks(np.array([0.5, 0.5]), np.array([1.0, 1.0]), baseline_samples=0, alpha=0.05)
