"""Reference windows: what a recording's own windows score against the baseline learned from it.

The windows of a steady recording are not alike: traffic moves with load and
a window of 1,000 values differs from the whole by chance. Each consecutive
window of the reference data (in its row order: a recording is in time order)
is scored against the baseline built from that data, with the watch's
method, and the scores' mean, standard deviation and maximum are written in
the baseline as ``reference:``; the loader places learned thresholds from
them. A window is binned as the engine bins a live one (the baseline's edges
with underflow and overflow, or its categories and the rest) and scored
through the detectors' registry with the inputs the engine gives it.

>>> from otel_drift._internal.expectations.load import loads_expectations
>>> text = '''
... version: 1
... expectations:
...   - name: m
...     match: {span_name: p}
...     watch:
...       x: {attribute: x, baseline: {bins: [0, 1, 2], fractions: [0.5, 0.5]}}
... '''
>>> (watch,) = loads_expectations(text).expectations[0].watch
>>> scores = WindowScores(watch, window=4, min_samples=1)
>>> scores.add(np.array([0.5, 1.5, 0.5, 1.5] * 5 + [0.5, 0.5, 0.5, 0.5]))
>>> block = scores.block()
>>> block["windows"], block["method"], block["max"] > block["mean"] > 0
(6, 'psi', True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from otel_drift._internal.detectors import METHODS, evaluate
from otel_drift._internal.expectations.model import BinnedBaseline, CategoricalBaseline, Watch
from otel_drift._internal.sketches import BinnedHistogram, CategoryCounter
from otel_drift._internal.values import labels_of

Column = np.ndarray[Any, Any]

#: Fewer scored windows than this say too little about the spread: none is written.
MIN_WINDOWS = 5


def has_window_score(watch: Watch) -> bool:
    """A binned or categorical baseline and a method that scores one window (not cusum)."""
    return watch.baseline is not None and METHODS[watch.method].score is not None


def _significant(value: float) -> float:
    """Four significant digits: enough to place a threshold, short in the YAML."""
    return float(f"{value:.4g}")


class WindowScores:
    """The scores of consecutive windows of ``window`` rows of one watched value.

    :meth:`add` takes the value's column for the next rows (numbers with NaN
    for missing, or labels with None for missing), in row order; a window is
    scored when its last row arrives, if it holds ``min_samples`` values, as
    the engine would.
    """

    def __init__(self, watch: Watch, *, window: int, min_samples: int) -> None:
        baseline = watch.baseline
        self.watch = watch
        self.window = window
        self.min_samples = min_samples
        self.histogram: BinnedHistogram | None = None
        self.categories: CategoryCounter | None = None
        self.known: tuple[str, ...] = ()
        self.points: Column | None = None
        self.scale = 1.0
        if isinstance(baseline, BinnedBaseline):
            # The engine's layout: [underflow, bins..., overflow], points at the outer edges.
            self.histogram = BinnedHistogram(baseline.edges)
            self.expected = np.array([0.0, *baseline.fractions, 0.0])
            edges = np.array(baseline.edges)
            self.points = np.concatenate(([edges[0]], (edges[:-1] + edges[1:]) / 2, [edges[-1]]))
            self.scale = baseline.std
        elif isinstance(baseline, CategoricalBaseline):
            # [categories..., the rest]; unknown labels fold into the rest, as "__other__" does.
            self.known = tuple(baseline.categories)
            self.categories = CategoryCounter(0, self.known)
            self.expected = np.array([*baseline.categories.values(), 0.0])
        else:
            raise ValueError(f"watch {watch.name!r} has no binned or categorical baseline")
        self.baseline_samples = baseline.samples
        self.rows = 0
        self.samples = 0
        self.scores: list[float] = []

    def add(self, values: Column) -> None:
        start = 0
        while start < values.size:
            take = min(self.window - self.rows, values.size - start)
            self._count(values[start : start + take])
            self.rows += take
            start += take
            if self.rows == self.window:
                self._close()

    def _count(self, values: Column) -> None:
        if self.histogram is not None:
            numbers = values.astype(np.float64, copy=False)
            self.histogram.update(numbers)
            self.samples += int(np.count_nonzero(~np.isnan(numbers)))
            return
        assert self.categories is not None
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
        labels = labels_of(values)
        present = labels[labels != None].tolist()  # noqa: E711 - elementwise
        self.categories.update(present)
        self.samples += len(present)

    def _observed(self) -> Column:
        if self.histogram is not None:
            return self.histogram.extended_counts()
        assert self.categories is not None
        return self.categories.aligned(self.known)

    def _close(self) -> None:
        observed = self._observed()
        if self.samples >= self.min_samples and observed.sum() > 0:
            result = evaluate(
                self.watch.method,
                self.expected,
                observed,
                points=self.points,
                scale=self.scale,
                baseline_samples=self.baseline_samples,
                alpha=self.watch.warning,
            )
            if math.isfinite(result.score):
                self.scores.append(float(result.score))
        self.rows = self.samples = 0
        if self.histogram is not None:
            self.histogram.reset()
        if self.categories is not None:
            self.categories.reset()

    def block(self) -> dict[str, Any] | None:
        """The ``reference:`` mapping, or None with fewer than ``MIN_WINDOWS`` scored windows."""
        if len(self.scores) < MIN_WINDOWS:
            return None
        scores = np.array(self.scores)
        return {
            "window": self.window,
            "windows": len(self.scores),
            "method": self.watch.method,
            "mean": _significant(float(scores.mean())),
            "std": _significant(float(scores.std(ddof=1))),
            "max": _significant(float(scores.max())),
        }
