"""The registry: each detector's MethodInfo, and what the rest of the package derives from it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from otel_drift._internal import detectors
from otel_drift._internal.cli import promql
from otel_drift._internal.detectors import METHODS
from otel_drift._internal.detectors.method import WindowInputs
from otel_drift._internal.expectations import model

#: name: (numeric, categorical, warning, critical, threshold kind), as published.
DEFAULTS = {
    "psi": (True, True, 0.05, 0.1, "distance"),
    "jensen_shannon": (True, True, 0.07, 0.12, "distance"),
    "wasserstein": (True, False, 0.15, 0.25, "distance"),
    "ks": (True, False, 1e-6, 1e-9, "alpha"),
    "chi_square": (True, True, 1e-6, 1e-9, "alpha"),
    "hellinger": (True, True, 0.06, 0.1, "distance"),
    "linf": (True, True, 0.03, 0.05, "distance"),
    "cusum": (True, False, 38.0, 52.0, "h"),
}


def test_names_order_and_defaults_are_pinned() -> None:
    assert {
        name: (m.numeric, m.categorical, m.warning, m.critical, m.threshold_kind)
        for name, m in METHODS.items()
    } == DEFAULTS
    assert list(METHODS) == list(DEFAULTS)
    assert all(name == method.name for name, method in METHODS.items())


def test_the_model_and_feed_stay_free_of_numpy() -> None:
    """Every instrumentation imports them at start-up, also where otel-drift is
    off: the registry (and numpy, ~100 ms) loads only with an expectations file."""
    code = (
        "import sys, otel_drift._internal.expectations.model, otel_drift._internal.feed; "
        "print(sorted(m for m in ('numpy', 'otel_drift._internal.detectors') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_the_default_methods_are_registered() -> None:
    assert METHODS[model.DEFAULT_NUMERIC_METHOD].numeric
    assert METHODS[model.DEFAULT_CATEGORICAL_METHOD].categorical


def test_promql_covers_the_methods_with_a_promql_form() -> None:
    assert promql.FLEET_METHODS == ("psi", "jensen_shannon", "hellinger", "linf")
    for name in promql.FLEET_METHODS:
        assert promql.SCORE_EXPRESSIONS[name] is METHODS[name].promql


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if m.rows is not None])
def test_row_kernels_equal_the_window_score(name: str) -> None:
    method = METHODS[name]
    assert method.rows is not None and method.score is not None
    rng = np.random.default_rng(12)
    expected = rng.dirichlet(np.ones(6), size=4)
    expected[1, 2] = 0.0
    expected[1] /= expected[1].sum()
    observed = rng.multinomial(300, [0.1, 0.2, 0.3, 0.2, 0.1, 0.1], size=4).astype(float)
    points = np.cumsum(rng.uniform(0.5, 2.0, size=6))
    gaps = np.tile(np.diff(points), (4, 1)) if method.uses_points else np.zeros((4, 5))
    totals = observed.sum(axis=1)
    rows = method.rows(expected, observed / totals[:, None], gaps, totals)
    for row in range(4):
        alone = method.score(expected[row], observed[row], WindowInputs(points=points))
        assert rows[row] == pytest.approx(alone.score, rel=1e-12, abs=1e-15)


def test_only_stateful_methods_have_no_window_score() -> None:
    assert [n for n, m in METHODS.items() if m.score is None] == ["cusum"]
    with pytest.raises(ValueError, match="unknown drift method 'nope'"):
        detectors.evaluate("nope", np.ones(2) / 2, np.ones(2))
