"""Jensen-Shannon distance against scipy.spatial.distance.jensenshannon(base=2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from otel_drift._internal.detectors.jensen_shannon import jensen_shannon


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for bins in (2, 3, 8, 50):
        expected = rng.dirichlet(np.ones(bins))
        for truth in (expected, rng.dirichlet(np.ones(bins))):
            observed = rng.multinomial(1500, truth).astype(float)
            reference = float(jensenshannon(expected, observed / observed.sum(), base=2))
            assert abs(jensen_shannon(expected, observed).score - reference) <= 1e-9


def test_zero_bins_match_scipy() -> None:
    expected = np.array([0.6, 0.4, 0.0, 0.0])
    observed = np.array([50.0, 0.0, 30.0, 0.0])
    reference = float(jensenshannon(expected, observed / observed.sum(), base=2))
    score = jensen_shannon(expected, observed).score
    assert math.isfinite(score)
    assert abs(score - reference) <= 1e-9


def test_identical_is_zero_and_disjoint_is_one() -> None:
    counts = np.array([1.0, 2.0, 0.0, 7.0])
    assert jensen_shannon(counts / counts.sum(), counts).score == 0.0
    assert jensen_shannon(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.0, 4.0])).score == 1.0


def test_one_bin_is_zero() -> None:
    assert jensen_shannon(np.array([1.0]), np.array([3.0])).score == 0.0


def test_large_n() -> None:
    rng = np.random.default_rng(5)
    expected = rng.dirichlet(np.ones(30))
    observed = rng.multinomial(10**9, expected).astype(float)
    reference = float(jensenshannon(expected, observed / observed.sum(), base=2))
    assert abs(jensen_shannon(expected, observed).score - reference) <= 1e-9


def test_symmetric_in_the_two_distributions() -> None:
    p = np.array([0.1, 0.2, 0.7])
    q = np.array([0.3, 0.3, 0.4])
    assert jensen_shannon(p, q).score == pytest.approx(jensen_shannon(q, p).score, abs=1e-15)
