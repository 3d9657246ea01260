"""Per-column statistics for ``otel-drift baseline``, over chunks, in bounded memory.

Numbers take two passes: the first keeps exact min/max and a uniform sample
(bottom-k of random keys: exact and vectorized) to place quantile edges (with
open outer bins, ``learn.bins``), the second counts every value into those
bins exactly. Categories are counted in
one pass, up to ``MAX_CATEGORIES`` distinct values, under the labels the
engine gives live values (``values.labels_of``: ``true``, ``200``, not
``True``, ``200.0``), so that a baseline matches what it is compared with.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otel_drift._internal.learn.bins import inner_probabilities, open_edges
from otel_drift._internal.values import labels_of

Column = np.ndarray[Any, Any]

#: Values kept per numeric column to place the quantile edges.
SAMPLE_SIZE = 100_000
#: Distinct categories counted per column; rarer ones beyond are dropped.
MAX_CATEGORIES = 200


@dataclass
class NumericStats:
    rng: np.random.Generator
    count: int = 0
    missing: int = 0
    low: float = math.inf
    high: float = -math.inf
    sample: Column = field(default_factory=lambda: np.empty(0))
    keys: Column = field(default_factory=lambda: np.empty(0))
    edges: Column | None = None
    counts: Column | None = None
    total: float = 0.0
    total_sq: float = 0.0

    def first_pass(self, values: Column) -> None:
        nan = np.isnan(values)
        self.missing += int(nan.sum())
        present = values[~nan & np.isfinite(values)]
        self.count += int(present.size)
        if present.size == 0:
            return
        self.low = min(self.low, float(present.min()))
        self.high = max(self.high, float(present.max()))
        keys = self.rng.random(present.size)
        sample = np.concatenate((self.sample, present))
        all_keys = np.concatenate((self.keys, keys))
        if sample.size > SAMPLE_SIZE:
            keep = np.argpartition(all_keys, SAMPLE_SIZE)[:SAMPLE_SIZE]
            sample, all_keys = sample[keep], all_keys[keep]
        self.sample, self.keys = sample, all_keys

    def place_edges(self, bins: int) -> None:
        self.edges = numeric_edges(self.sample, self.low, self.high, bins)
        self.counts = np.zeros(self.edges.size - 1)

    def second_pass(self, values: Column) -> None:
        if self.edges is None or self.counts is None:
            return
        present = values[np.isfinite(values)]
        counts, _ = np.histogram(present, bins=self.edges)
        self.counts += counts
        self.total += float(present.sum())
        self.total_sq += float(np.square(present).sum())

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        if self.count < 2:
            return 0.0
        variance = max(self.total_sq / self.count - self.mean**2, 0.0)
        return math.sqrt(variance * self.count / (self.count - 1))


@dataclass
class CategoryStats:
    counts: Counter[str] = field(default_factory=Counter)
    missing: int = 0
    dropped: int = 0

    def update(self, values: Column) -> None:
        """Count a column's labels; None (and NaN in a float column) is missing."""
        labels = labels_of(values[~missing_mask(values)])
        # A value with no label (bytes, a date) is counted as missing too.
        labels = labels[labels != None]  # noqa: E711 - elementwise
        self.missing += int(values.size - labels.size)
        if labels.size == 0:
            return
        found, counts = np.unique(labels.astype(str), return_counts=True)
        for label, count in zip(found.tolist(), counts.tolist(), strict=True):
            if label in self.counts or len(self.counts) < MAX_CATEGORIES:
                self.counts[label] += count
            else:
                self.dropped += count

    @property
    def count(self) -> int:
        return sum(self.counts.values())


def missing_mask(values: Column) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """The readers' missing values: NaN in a float column, None in any other."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.asarray(values == None, dtype=bool)  # noqa: E711 - elementwise


def numeric_edges(sample: Column, low: float, high: float, bins: int) -> Column:
    """Bin edges with open outer bins (``learn.bins``): quantiles inside, the outer edges far out.

    The inner edges are quantiles of the sample from 0.5 % to 99.5 %, never
    its extremes, so a value beyond those the data held still falls in a bin
    the baseline gives a share. Few distinct values (flags, counts) get one
    bin per value instead, since their quantiles coincide.
    """
    if sample.size == 0 or not math.isfinite(low):
        return np.array(open_edges([1.0], low=0.0, high=1.0))
    distinct = np.unique(sample)
    if distinct.size <= bins:
        if distinct.size == 1:
            pad = max(abs(float(distinct[0])) * 1e-3, 1e-3)
            inner = [float(distinct[0] - pad), float(distinct[0] + pad)]
        else:
            middles = (distinct[:-1] + distinct[1:]) / 2
            first = distinct[0] - (middles[0] - distinct[0])
            last = distinct[-1] + (distinct[-1] - middles[-1])
            inner = [float(first), *middles.tolist(), float(last)]
        return np.array(open_edges(inner, low=low, high=high))
    quantiles = np.quantile(sample, inner_probabilities(bins))
    return np.array(open_edges([_round(x) for x in quantiles], low=low, high=high))


def _round(value: float) -> float:
    """Six significant digits: readable in the YAML, plenty for bin edges."""
    return float(f"{value:.6g}")


def _categorical_kind(values: Column) -> bool:
    return values.dtype.kind not in "fiub"


def is_categorical_output(sample: Column) -> bool:
    """Model output read as labels: strings, ints, bools, or a few whole floats."""
    if _categorical_kind(sample) or sample.dtype.kind in "iub":
        return True
    finite = sample[np.isfinite(sample)]
    return bool(finite.size and np.all(np.floor(finite) == finite) and np.unique(finite).size <= 20)
