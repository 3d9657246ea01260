"""The package entry points: evaluate() dispatch, level() thresholds, shared input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_drift._internal import detectors
from otel_drift._internal.detectors import (
    DetectorResult,
    chi_square,
    evaluate,
    hellinger,
    jensen_shannon,
    ks,
    level,
    linf,
    psi,
    wasserstein,
)

METHODS = ["psi", "jensen_shannon", "wasserstein", "ks", "chi_square", "hellinger", "linf"]
EXPECTED = np.array([0.1, 0.0, 0.4, 0.3, 0.2])
OBSERVED = np.array([12.0, 3.0, 30.0, 0.0, 55.0])
POINTS = np.array([1.0, 2.0, 3.0, 5.0, 9.0])


def test_dispatch_matches_direct_calls() -> None:
    assert evaluate("psi", EXPECTED, OBSERVED) == psi(EXPECTED, OBSERVED)
    assert evaluate("jensen_shannon", EXPECTED, OBSERVED) == jensen_shannon(EXPECTED, OBSERVED)
    assert evaluate("chi_square", EXPECTED, OBSERVED) == chi_square(EXPECTED, OBSERVED)
    assert evaluate("hellinger", EXPECTED, OBSERVED) == hellinger(EXPECTED, OBSERVED)
    assert evaluate("linf", EXPECTED, OBSERVED) == linf(EXPECTED, OBSERVED)
    assert evaluate("wasserstein", EXPECTED, OBSERVED, points=POINTS, scale=2.5) == wasserstein(
        POINTS, EXPECTED, OBSERVED, 2.5
    )
    assert evaluate("ks", EXPECTED, OBSERVED, baseline_samples=300, alpha=0.01) == ks(
        EXPECTED, OBSERVED, 300, 0.01
    )


def test_ks_critical_value_uses_alpha() -> None:
    loose = evaluate("ks", EXPECTED, OBSERVED, alpha=0.1).critical_value
    strict = evaluate("ks", EXPECTED, OBSERVED, alpha=0.01).critical_value
    assert loose is not None
    assert strict is not None
    assert loose < strict


def test_dispatch_errors() -> None:
    with pytest.raises(ValueError, match="unknown drift method 'cusum'"):
        evaluate("cusum", EXPECTED, OBSERVED)
    with pytest.raises(ValueError, match="points"):
        evaluate("wasserstein", EXPECTED, OBSERVED)


def test_public_names() -> None:
    assert sorted(detectors.__all__) == sorted(
        [
            "METHODS",
            "Cusum",
            "CusumUpdate",
            "DetectorResult",
            "Hysteresis",
            "MethodInfo",
            "chi_square",
            "evaluate",
            "hellinger",
            "jensen_shannon",
            "ks",
            "level",
            "linf",
            "psi",
            "unit_scale",
            "wasserstein",
        ]
    )
    for name in detectors.__all__:
        assert hasattr(detectors, name)


@pytest.mark.parametrize("kind", ["distance", "h"])
def test_level_for_scores(kind: str) -> None:
    def at(score: float) -> int:
        return level(kind, DetectorResult(score=score), warning=0.1, critical=0.25)

    assert [at(0.0), at(0.0999), at(0.1), at(0.2), at(0.25), at(3.0)] == [0, 0, 1, 1, 2, 2]


def test_level_for_alpha() -> None:
    def at(p_value: float) -> int:
        return level("alpha", DetectorResult(5.0, p_value), warning=0.05, critical=0.01)

    assert [at(1.0), at(0.0501), at(0.05), at(0.02), at(0.01), at(0.0)] == [0, 0, 1, 1, 2, 2]


def test_level_errors() -> None:
    with pytest.raises(ValueError, match="p-value"):
        level("alpha", DetectorResult(0.3), warning=0.05, critical=0.01)
    with pytest.raises(ValueError, match="threshold kind"):
        level("sigma", DetectorResult(0.3), warning=0.05, critical=0.01)


@pytest.mark.parametrize("method", METHODS)
def test_input_validation(method: str) -> None:
    def call(expected: list[float], observed: list[float]) -> DetectorResult:
        points = np.arange(len(expected), dtype=np.float64)
        return evaluate(method, np.array(expected), np.array(observed), points=points)

    with pytest.raises(ValueError, match="at least one count"):
        call([0.5, 0.5], [0.0, 0.0])
    with pytest.raises(ValueError, match="bins"):
        call([0.5, 0.5], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        call([0.5, 0.5], [1.0, math.nan])
    with pytest.raises(ValueError, match="non-negative"):
        call([1.5, -0.5], [1.0, 1.0])
    with pytest.raises(ValueError, match="positive sum"):
        call([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        call([], [])


@pytest.mark.parametrize("method", METHODS)
def test_identical_distributions_show_no_drift(method: str) -> None:
    counts = np.array([0.0, 120.0, 340.0, 40.0, 0.0])
    result = evaluate(method, counts / counts.sum(), counts, points=POINTS)
    assert result.score == pytest.approx(0.0, abs=1e-12)
    if result.p_value is not None:
        assert result.p_value == pytest.approx(1.0, abs=1e-12)


bins = st.integers(1, 12)


@st.composite
def binned(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    size = draw(bins)
    weights = st.lists(st.sampled_from([0.0, 1e-9, 0.3, 1.0, 7.0]), min_size=size, max_size=size)
    expected = draw(weights.filter(lambda w: sum(w) > 0))
    counts = st.lists(st.sampled_from([0.0, 1.0, 3.0, 1e6]), min_size=size, max_size=size)
    observed = draw(counts.filter(lambda c: sum(c) > 0))
    return expected, observed


@settings(max_examples=200, deadline=None)
@given(case=binned())
def test_never_nan_or_inf(case: tuple[list[float], list[float]]) -> None:
    raw_expected, raw_observed = case
    expected = np.array(raw_expected) / sum(raw_expected)
    observed = np.array(raw_observed)
    points = np.arange(expected.size, dtype=np.float64)
    for method in METHODS:
        result = evaluate(method, expected, observed, points=points, baseline_samples=50)
        assert math.isfinite(result.score), method
        assert result.score >= 0.0, method
        if result.p_value is not None:
            assert 0.0 <= result.p_value <= 1.0, method
        if result.critical_value is not None:
            assert math.isfinite(result.critical_value), method
    for bounded in ("jensen_shannon", "hellinger", "linf", "ks"):
        assert evaluate(bounded, expected, observed).score <= 1.0
