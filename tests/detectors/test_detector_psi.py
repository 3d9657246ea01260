"""PSI against an explicit loop over the smoothed fractions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from otel_drift._internal.detectors.psi import PSI_EPS, psi

FloatArray = NDArray[np.float64]


def reference_psi(expected: FloatArray, observed: FloatArray) -> float:
    n = sum(float(c) for c in observed)
    expected = expected / expected.sum()
    total = 0.0
    for e, c in zip(expected.tolist(), observed.tolist(), strict=True):
        # A bin the baseline fills and the window left empty holds half a value.
        o = (c if c > 0 or e == 0 else 0.5) / n + PSI_EPS
        e_s = e + PSI_EPS
        total += (o - e_s) * math.log(o / e_s)
    return total


def cases(seed: int) -> list[tuple[FloatArray, FloatArray]]:
    rng = np.random.default_rng(seed)
    out = []
    for bins in (2, 5, 10, 40):
        expected = rng.dirichlet(np.ones(bins))
        drifted = rng.dirichlet(np.ones(bins))
        out.append((expected, rng.multinomial(2000, expected).astype(float)))
        out.append((expected, rng.multinomial(2000, drifted).astype(float)))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference(seed: int) -> None:
    for expected, observed in cases(seed):
        assert abs(psi(expected, observed).score - reference_psi(expected, observed)) <= 1e-9


def test_identical_distributions_score_zero() -> None:
    observed = np.array([10.0, 0.0, 30.0, 60.0])
    assert psi(observed / observed.sum(), observed).score == 0.0


def test_zero_bins_stay_finite_and_match_reference() -> None:
    # Underflow/overflow bins the baseline never saw, and bins nobody hit now.
    expected = np.array([0.0, 0.3, 0.7, 0.0])
    observed = np.array([5.0, 0.0, 80.0, 15.0])
    score = psi(expected, observed).score
    assert math.isfinite(score)
    assert score > 0.25
    assert abs(score - reference_psi(expected, observed)) <= 1e-9


def test_one_bin_is_zero() -> None:
    assert psi(np.array([1.0]), np.array([17.0])).score == 0.0


def test_large_n() -> None:
    rng = np.random.default_rng(9)
    expected = rng.dirichlet(np.ones(20))
    observed = rng.multinomial(10**9, expected).astype(float)
    score = psi(expected, observed).score
    assert 0.0 <= score < 1e-6
    assert abs(score - reference_psi(expected, observed)) <= 1e-12


def test_scale_of_counts_does_not_matter() -> None:
    expected = np.array([0.2, 0.5, 0.3])
    observed = np.array([3.0, 4.0, 5.0])
    assert psi(expected, observed).score == pytest.approx(psi(expected, observed * 1000).score)


def test_all_zero_observed_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one count"):
        psi(np.array([0.5, 0.5]), np.array([0.0, 0.0]))
