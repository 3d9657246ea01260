"""Reference windows: how a recording's own windows score against the baseline learned from it.

The windows of a steady recording are not alike: traffic moves with load and
a window of 1,000 values differs from the whole by chance. The recording's
windows are scored against its baseline with the watch's method, and the
scores' mean, standard deviation and maximum are written in the baseline as
``reference:``; the loader places learned thresholds from them
(``expectations/learned.py``). A window is binned as the engine bins a live
one (the baseline's edges with underflow and overflow, or its categories and
the rest) and scored through the detectors' registry with the inputs the
engine gives it.

Two things make the reference look like what live judging will meet:

* **Out of sample.** A live window is not part of the baseline it is judged
  against, and traffic minutes apart moves together (load comes in spells).
  So each window is scored against the baseline with its own rows and those
  of one window either side taken out (the baseline's shares times the
  recording's size, less those counts, plus one window's worth of the
  baseline so that no share falls to zero). Scored in sample, a Flask
  route's 13 reference windows put warning at 0.38 PSI; out of sample, 0.45.
* **Every alignment.** Live windows do not start where the recording's did:
  a spell of load may fall inside one or straddle two. Windows are scored at
  every quarter-window offset (``SLICES``), four times as many scores, so
  the maximum meets the worst alignment the recording holds.

A recording kept as a sample of its windows (``accumulate.py``'s reservoir)
is scored run by run: ``add(..., follows=False)`` starts a run, and no window
or neighbourhood crosses from one run into another.

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
from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_drift._internal.detectors import METHODS, evaluate
from otel_drift._internal.expectations.learned import score_power
from otel_drift._internal.expectations.model import BinnedBaseline, CategoricalBaseline, Watch
from otel_drift._internal.sketches import BinnedHistogram, CategoryCounter
from otel_drift._internal.values import labels_of

Column = np.ndarray[Any, Any]

#: Fewer scored windows than this say too little about the spread: none is written.
MIN_WINDOWS = 5
#: Windows are scored at every 1/SLICES-window offset (when the window divides).
SLICES = 4


def has_window_score(watch: Watch) -> bool:
    """A binned or categorical baseline and a method that scores one window (not cusum)."""
    return watch.baseline is not None and METHODS[watch.method].score is not None


def significant(value: float) -> float:
    """Four significant digits: enough to place a threshold, short in the YAML."""
    return float(f"{value:.4g}")


class WindowScores:
    """The out-of-sample scores of the windows of ``window`` rows of one watched value.

    :meth:`add` takes the value's column for the next rows (numbers with NaN
    for missing, or labels with None for missing), in row order, cut into
    slices of a quarter window; :meth:`add_window` takes one whole window of
    any size (a Prometheus interval). :meth:`block` scores every window of
    consecutive slices holding ``min_samples`` values, as the engine would.
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
        self.expected = self.expected / self.expected.sum()
        self.baseline_samples = baseline.samples
        #: A window is this many slices of ``slice_rows`` rows (1 when it does not divide).
        self.slices = SLICES if window % SLICES == 0 else 1
        self.slice_rows = window // self.slices
        self.rows = 0
        self.samples = 0
        #: Per closed slice: its counts, its values, its run.
        self._counts: list[Column] = []
        self._samples: list[int] = []
        self._runs: list[int] = []
        self._run = 0

    def add(self, values: Column, *, follows: bool = True) -> None:
        """The next rows; ``follows=False``: they do not follow the last ones in time."""
        if not follows:
            self._new_run()
        start = 0
        while start < values.size:
            take = min(self.slice_rows - self.rows, values.size - start)
            self._count(values[start : start + take])
            self.rows += take
            start += take
            if self.rows == self.slice_rows:
                self._close()

    def add_window(self, values: Column) -> None:
        """One whole window of any size, scored alone, following the last one in time.

        For windows of varying size (Prometheus intervals): the scores must be
        built with ``window=1``, so that each closed unit is one window.
        """
        if self.slices != 1:
            raise ValueError("add_window needs WindowScores(..., window=1)")
        self._count(values)
        self._close()

    def _new_run(self) -> None:
        self.rows = self.samples = 0
        self._reset()
        self._run += 1

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
        self._counts.append(np.array(self._observed(), dtype=np.float64))
        self._samples.append(self.samples)
        self._runs.append(self._run)
        self.rows = self.samples = 0
        self._reset()

    def _reset(self) -> None:
        if self.histogram is not None:
            self.histogram.reset()
        if self.categories is not None:
            self.categories.reset()

    def _score(self, expected: Column, observed: Column) -> float:
        result = evaluate(
            self.watch.method,
            expected,
            observed,
            points=self.points,
            scale=self.scale,
            baseline_samples=self.baseline_samples,
            alpha=self.watch.warning,
        )
        return float(result.score)

    def scores(self) -> tuple[list[float], int]:
        """(every window's out-of-sample score, the number of non-overlapping windows)."""
        if not self._counts:
            return [], 0
        counts = np.array(self._counts)
        # Prefix sums: any run of slices' counts and values in two lookups.
        summed = np.vstack([np.zeros(counts.shape[1]), np.cumsum(counts, axis=0)])
        values = np.concatenate(([0], np.cumsum(self._samples)))
        runs = np.array(self._runs)
        total = summed[-1].sum()
        found: list[float] = []
        windows = 0
        for run in np.unique(runs):
            where = np.flatnonzero(runs == run)
            first, end = int(where[0]), int(where[-1]) + 1
            span = self.slices
            for start in range(first, end - span + 1):
                stop = start + span
                if values[stop] - values[start] < max(self.min_samples, 1):
                    continue
                observed = summed[stop] - summed[start]
                if observed.sum() <= 0:
                    continue
                near = summed[min(end, stop + span)] - summed[max(first, start - span)]
                held = np.maximum(self.expected * total - near, 0.0)
                held += self.expected * max(observed.sum(), 1.0)
                score = self._score(held / held.sum(), observed)
                if math.isfinite(score):
                    found.append(score)
                    windows += (start - first) % span == 0
        return found, windows

    def block(self) -> dict[str, Any] | None:
        """The ``reference:`` mapping, or None with fewer than ``MIN_WINDOWS`` windows."""
        found, windows = self.scores()
        if windows < MIN_WINDOWS:
            return None
        return spread(found, window=self.window, windows=windows, method=self.watch.method)


def spread(scores: Sequence[float], *, window: int, windows: int, method: str) -> dict[str, Any]:
    """The ``reference:`` mapping of these scores (with their roots' for a divergence)."""
    found = np.array(scores)
    block: dict[str, Any] = {
        "window": window,
        "windows": windows,
        "method": method,
        "mean": significant(float(found.mean())),
        "std": significant(float(found.std(ddof=1))),
        "max": significant(float(found.max())),
    }
    if score_power(method) == 2:
        roots = np.sqrt(np.maximum(found, 0.0))
        block["root_mean"] = significant(float(roots.mean()))
        block["root_std"] = significant(float(roots.std(ddof=1)))
    return block
