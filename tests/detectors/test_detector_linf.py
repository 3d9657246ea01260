"""L-infinity distance against scipy.spatial.distance.chebyshev and a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import chebyshev

from otel_drift._internal.detectors.linf import linf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for bins in (2, 7, 30):
        expected = rng.dirichlet(np.ones(bins))
        observed = rng.multinomial(800, rng.dirichlet(np.ones(bins))).astype(float)
        q = observed / observed.sum()
        score = linf(expected, observed).score
        assert abs(score - float(chebyshev(expected, q))) <= 1e-9
        loop = max(abs(a - b) for a, b in zip(expected.tolist(), q.tolist(), strict=True))
        assert abs(score - loop) <= 1e-9


def test_zero_bins_and_edges() -> None:
    assert linf(np.array([0.0, 1.0, 0.0]), np.array([1.0, 2.0, 1.0])).score == pytest.approx(0.5)
    counts = np.array([0.0, 3.0, 5.0])
    assert linf(counts / counts.sum(), counts).score == 0.0
    assert linf(np.array([1.0]), np.array([4.0])).score == 0.0
    assert linf(np.array([1.0, 0.0]), np.array([0.0, 4.0])).score == 1.0


def test_large_n() -> None:
    rng = np.random.default_rng(3)
    expected = rng.dirichlet(np.ones(15))
    observed = rng.multinomial(10**9, expected).astype(float)
    reference = float(chebyshev(expected, observed / observed.sum()))
    assert abs(linf(expected, observed).score - reference) <= 1e-12
