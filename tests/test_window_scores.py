"""The stacked window scores equal each watched value's own score_window()."""

from __future__ import annotations

import numpy as np
import pytest

from otel_drift import loads_expectations
from otel_drift._internal import detectors
from otel_drift._internal.engine.watch_state import WatchState
from otel_drift._internal.engine.window_scores import WindowScorer

#: Every registered method that scores numeric windows one at a time: the
#: stacked ones must agree with it, the others pass through.
METHODS = tuple(
    name for name, method in detectors.METHODS.items() if method.numeric and method.score
)


def _expectations(widths: list[int]) -> str:
    watches = []
    for i, width in enumerate(widths):
        method = METHODS[i % len(METHODS)]
        edges = ", ".join(
            f"{q / width:.4f}: {e:.3f}"
            for q, e in zip(range(width + 1), np.linspace(-2, 2 + i, width + 1), strict=True)
        )
        watches.append(
            f"      v{i}: {{attribute: a{i}, baseline: {{quantiles: {{{edges}}}, "
            f"samples: 5000}}, method: {method}}}"
        )
    for j, method in enumerate(("psi", "jensen_shannon", "linf")):
        watches.append(
            f"      c{j}: {{attribute: c{j}, baseline: {{categories: "
            f"{{a: 0.5, b: 0.3, c: 0.2}}}}, method: {method}}}"
        )
    watches.append(
        "      cusum: {attribute: z, baseline: {quantiles: {0: -3, 0.5: 0, 1: 3}, "
        "mean: 0, std: 1}, method: cusum}"
    )
    return "\n".join(
        [
            "version: 1",
            "expectations:",
            "  - name: e",
            "    match: {span_name: s}",
            "    min_samples: 50",
            "    watch:",
            *watches,
        ]
    )


@pytest.mark.parametrize("seed", range(5))
def test_stacked_scores_equal_one_by_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(2, 15, size=21)]
    expectation = loads_expectations(_expectations(widths)).expectations[0]
    watches = [WatchState(expectation, w, 100) for w in expectation.watch]
    scorer = WindowScorer(watches)
    for watch in watches:
        samples = int(rng.choice([10, 200, 3000]))  # some below min_samples
        if watch.histogram is not None:
            watch.add_numbers(rng.normal(loc=rng.normal(), size=samples), 0, 0)
        else:
            watch.add_labels(list(rng.choice(["a", "b", "c", "d"], size=samples)), 0, 0)
    stacked = scorer.score(watches)
    alone = [watch.score_window() for watch in watches]
    assert [r is None for r in stacked] == [r is None for r in alone]
    assert any(r is None for r in alone) and any(r is not None for r in alone)
    for got, want in zip(stacked, alone, strict=True):
        if want is not None and got is not None:
            assert got.score == pytest.approx(want.score, rel=1e-12, abs=1e-15)
            assert got.p_value == want.p_value


def test_a_window_with_only_nan_is_not_judged() -> None:
    expectation = loads_expectations(_expectations([4, 4, 4, 4, 4])).expectations[0]
    watches = [WatchState(expectation, w, 100) for w in expectation.watch]
    for watch in watches:
        if watch.histogram is not None:
            watch.add_numbers(np.full(100, np.nan), 0, 0)  # samples, but no bin counts
    assert all(r is None for r in WindowScorer(watches).score(watches)[:5])
