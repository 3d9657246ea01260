"""Pearson chi-square against scipy.stats.chisquare, chi2.sf and special.gammaincc."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammaincc
from scipy.stats import chi2, chisquare

from otel_drift._internal.detectors.chi_square import CHI_SQUARE_EPS, chi_square
from otel_drift._internal.detectors.gamma import chi2_sf, regularized_gamma_q


def test_regularized_gamma_q_matches_scipy() -> None:
    for a in (0.5, 1.0, 1.5, 2.0, 4.5, 10.0, 37.5, 100.0, 499.5, 5000.0):
        # Both expansions (switch at x = a + 1), the far tails, and x = 0.
        xs = [0.0, 1e-8, 0.1, a / 2, a, a + 0.999, a + 1.0, a + 1.001, 2 * a, a + 20 * math.sqrt(a)]
        for x in xs:
            # The prefactor's rounding grows like 1e-16 * a ln a (documented).
            tolerance = 1e-12 if a < 1000 else 1e-10
            assert abs(regularized_gamma_q(a, x) - float(gammaincc(a, x))) <= tolerance, (a, x)


def test_chi2_sf_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    for dof in (1, 2, 3, 7, 20, 99, 1000):
        for statistic in rng.uniform(0.0, 3.0 * dof + 30.0, 25).tolist():
            assert abs(chi2_sf(statistic, dof) - float(chi2.sf(statistic, dof))) <= 1e-9


def test_chi2_sf_edges() -> None:
    assert chi2_sf(0.0, 5) == 1.0
    assert chi2_sf(3.0, 0) == 1.0
    assert chi2_sf(1e6, 3) == 0.0
    with pytest.raises(ValueError):
        regularized_gamma_q(0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy_chisquare(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for bins in (2, 5, 20, 100):
        expected = rng.dirichlet(np.full(bins, 5.0))  # no bin below the floor
        assert expected.min() > CHI_SQUARE_EPS
        for truth in (expected, rng.dirichlet(np.full(bins, 5.0))):
            observed = rng.multinomial(5000, truth).astype(float)
            reference = chisquare(observed, observed.sum() * expected)
            result = chi_square(expected, observed)
            assert result.score == pytest.approx(float(reference.statistic), rel=1e-12, abs=1e-12)
            assert result.p_value is not None
            assert abs(result.p_value - float(reference.pvalue)) <= 1e-9


def test_bins_empty_on_both_sides_are_dropped() -> None:
    expected = np.array([0.0, 0.2, 0.0, 0.5, 0.3, 0.0])
    observed = np.array([0.0, 25.0, 0.0, 40.0, 35.0, 0.0])
    kept = np.array([1, 3, 4])
    reference = chisquare(observed[kept], observed.sum() * expected[kept])  # dof = 2
    result = chi_square(expected, observed)
    assert result.score == pytest.approx(float(reference.statistic), rel=1e-12)
    assert result.p_value is not None
    assert abs(result.p_value - float(reference.pvalue)) <= 1e-9


def test_mass_where_the_baseline_has_none_is_floored() -> None:
    expected = np.array([0.7, 0.3, 0.0])
    observed = np.array([60.0, 30.0, 10.0])
    # Explicit formula: floor the baseline at eps where counts exist, renormalise.
    floored = [max(e, CHI_SQUARE_EPS) for e in expected.tolist()]
    total = sum(floored)
    n = 100.0
    statistic = sum(
        (o - n * f / total) ** 2 / (n * f / total)
        for o, f in zip(observed.tolist(), floored, strict=True)
    )
    result = chi_square(expected, observed)
    assert math.isfinite(result.score)
    assert result.score == pytest.approx(statistic, rel=1e-12)
    assert result.p_value is not None
    assert abs(result.p_value - float(chi2.sf(statistic, 2))) <= 1e-9
    assert result.p_value < 1e-9


def test_identical_distributions() -> None:
    counts = np.array([10.0, 20.0, 30.0, 40.0])
    result = chi_square(counts / counts.sum(), counts)
    assert result.score == pytest.approx(0.0, abs=1e-12)
    assert result.p_value == pytest.approx(1.0, abs=1e-12)


def test_one_bin() -> None:
    result = chi_square(np.array([1.0]), np.array([50.0]))
    assert result.score == 0.0
    assert result.p_value == 1.0


def test_large_n() -> None:
    rng = np.random.default_rng(12)
    expected = rng.dirichlet(np.full(30, 5.0))
    same = rng.multinomial(10**9, expected).astype(float)
    reference = chisquare(same, same.sum() * expected)
    result = chi_square(expected, same)
    assert result.score == pytest.approx(float(reference.statistic), rel=1e-9)
    assert result.p_value is not None
    assert abs(result.p_value - float(reference.pvalue)) <= 1e-9
    drifted = rng.multinomial(10**9, rng.dirichlet(np.full(30, 5.0))).astype(float)
    big = chi_square(expected, drifted)
    assert big.score == pytest.approx(float(chisquare(drifted, 1e9 * expected).statistic))
    assert big.p_value == 0.0
