"""Hellinger distance against scipy's Euclidean norm and the Bhattacharyya form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.spatial.distance import euclidean

from otel_drift._internal.detectors.hellinger import hellinger

FloatArray = NDArray[np.float64]


def bhattacharyya_form(p: FloatArray, q: FloatArray) -> float:
    coefficient = sum(math.sqrt(a * b) for a, b in zip(p.tolist(), q.tolist(), strict=True))
    return math.sqrt(max(0.0, 1.0 - coefficient))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for bins in (2, 4, 12, 60):
        expected = rng.dirichlet(np.ones(bins))
        drifted = rng.dirichlet(np.ones(bins))
        observed = rng.multinomial(1000, drifted).astype(float)
        q = observed / observed.sum()
        score = hellinger(expected, observed).score
        norm_form = float(euclidean(np.sqrt(expected), np.sqrt(q))) / math.sqrt(2.0)
        assert abs(score - norm_form) <= 1e-9
        # Far enough apart that the cancellation in 1 - BC stays well below 1e-9.
        assert abs(score - bhattacharyya_form(expected, q)) <= 1e-9


def test_zero_bins() -> None:
    expected = np.array([0.0, 0.5, 0.5, 0.0])
    observed = np.array([2.0, 0.0, 6.0, 2.0])
    q = observed / observed.sum()
    assert abs(hellinger(expected, observed).score - bhattacharyya_form(expected, q)) <= 1e-9


def test_identical_is_exactly_zero_and_disjoint_is_one() -> None:
    rng = np.random.default_rng(4)
    counts = rng.multinomial(10**6, rng.dirichlet(np.ones(25))).astype(float)
    assert hellinger(counts / counts.sum(), counts).score == 0.0
    assert hellinger(np.array([1.0, 0.0]), np.array([0.0, 5.0])).score == 1.0


def test_one_bin_is_zero() -> None:
    assert hellinger(np.array([1.0]), np.array([9.0])).score == 0.0


def test_large_n() -> None:
    rng = np.random.default_rng(8)
    expected = rng.dirichlet(np.ones(10))
    observed = rng.multinomial(10**9, expected).astype(float)
    q = observed / observed.sum()
    reference = float(euclidean(np.sqrt(expected), np.sqrt(q))) / math.sqrt(2.0)
    assert abs(hellinger(expected, observed).score - reference) <= 1e-12
