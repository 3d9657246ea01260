"""Scores for the closing windows of many watched values, one numpy pass per method.

An ML expectation watches tens of features; scoring each window on its own is
a dozen numpy calls on arrays of a dozen bins, so closing 30 windows cost
about 1.6 ms of call overhead. Here the watched values of one expectation that
use a method with a row-wise kernel (``MethodInfo.rows``: the distances psi,
jensen_shannon, hellinger, linf, wasserstein) are stacked, zero-padded to the
widest, and scored by that kernel: a zero bin on both sides adds nothing to
any of these distances. The other methods (the hypothesis tests ks and
chi_square, CUSUM) are scored one by one (:meth:`WatchState.score_window`),
as before.

The result for each watched value equals ``WatchState.score_window()``
(tests/test_window_scores.py checks it to 1e-12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_drift._internal.detectors import METHODS, DetectorResult, MethodInfo, unit_scale
from otel_drift._internal.engine.watch_state import WatchState
from otel_drift._internal.expectations.model import BinnedBaseline

#: The methods whose windows can be stacked: those with a row-wise kernel.
_ROW_KERNELS: Mapping[str, MethodInfo] = {
    name: method for name, method in METHODS.items() if method.rows is not None
}
#: Below this many watched values of one method, stacking does not pay.
MIN_GROUP = 2


class _Group:
    """The watched values (positions) of one expectation sharing one method."""

    def __init__(
        self, method: MethodInfo, positions: list[int], watches: Sequence[WatchState]
    ) -> None:
        assert method.rows is not None  # only methods with a kernel are grouped
        self.kernel = method.rows
        self.positions = positions
        members = [watches[i] for i in positions]
        self.widths = [_expected(w).size for w in members]
        width = max(self.widths)
        self.expected = np.zeros((len(members), width))
        for row, member in enumerate(members):
            expected = _expected(member)
            self.expected[row, : expected.size] = expected / expected.sum()
        self.observed = np.zeros_like(self.expected)
        self.gaps = np.zeros((len(members), width - 1))
        self.scales = np.ones(len(members))
        if method.uses_points:
            for row, member in enumerate(members):
                assert member.points is not None  # binned baselines always have points
                gaps = np.diff(member.points)
                self.gaps[row, : gaps.size] = gaps
                baseline = member.watch.baseline
                scale = baseline.std if isinstance(baseline, BinnedBaseline) else 1.0
                self.scales[row] = unit_scale(scale)

    def score(
        self, watches: Sequence[WatchState], results: dict[int, DetectorResult | None]
    ) -> None:
        observed = self.observed
        observed.fill(0.0)
        judged = np.zeros(len(self.positions), dtype=bool)
        for row, position in enumerate(self.positions):
            watch = watches[position]
            if watch.samples < watch.min_samples:
                results[position] = None
                continue
            counts = watch.observed()
            if counts is None:
                results[position] = None
                continue
            observed[row, : counts.size] = counts
            judged[row] = True
        totals = observed.sum(axis=1)
        judged &= totals > 0
        if not judged.any():
            for position in self.positions:
                results.setdefault(position, None)
            return
        q = observed[judged] / totals[judged, None]
        p = self.expected[judged]
        # Gaps are all 0 and scales all 1 for a method that does not use points.
        scores = self.kernel(p, q, self.gaps[judged], totals[judged]) / self.scales[judged]
        kept = iter(scores.tolist())
        for row, position in enumerate(self.positions):
            results[position] = DetectorResult(score=next(kept)) if judged[row] else None


class WindowScorer:
    """Scores the windows of one expectation's watched values at close."""

    def __init__(self, watches: Sequence[WatchState]) -> None:
        by_method: dict[str, list[int]] = {}
        for position, watch in enumerate(watches):
            if _stackable(watch):
                by_method.setdefault(watch.watch.method, []).append(position)
        self._groups = [
            _Group(_ROW_KERNELS[method], positions, watches)
            for method, positions in by_method.items()
            if len(positions) >= MIN_GROUP
        ]

    def score(self, watches: Sequence[WatchState]) -> list[DetectorResult | None]:
        """Each watched value's result, as its ``score_window()`` would give it."""
        results: dict[int, DetectorResult | None] = {}
        for group in self._groups:
            group.score(watches, results)
        return [
            results[position] if position in results else watch.score_window()
            for position, watch in enumerate(watches)
        ]


def _stackable(watch: WatchState) -> bool:
    method = _ROW_KERNELS.get(watch.watch.method)
    return (
        watch.expected is not None
        and watch.cusum is None
        and method is not None
        and (watch.points is not None or not method.uses_points)
        and watch.observed() is not None
        and float(watch.expected.sum()) > 0.0
    )


def _expected(watch: WatchState) -> NDArray[Any]:
    assert watch.expected is not None  # only stackable watches get here
    return watch.expected
