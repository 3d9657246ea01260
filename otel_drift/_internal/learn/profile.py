"""A learned profile: each watched value's baseline per time slot, as ``--profile`` writes it.

From a key's :class:`~otel_drift._internal.learn.slots.SlotStats`: numeric
values get one set of bin edges for all slots (the format requires it: the
engine keeps one histogram), placed at the pooled quantiles on the coarse
grid's boundaries with open outer bins (``bins.py``), then each slot's
shares on those edges; label values get each slot's shares. Slots holding
fewer than ``min_count`` values are folded into the slot that would judge
them (``merge_sparse_slots``), and each slot kept is given a ``reference:``
block from the windows that started in it or in the slots folded into it,
scored against the slot as the engine would score them.

>>> import random
>>> from otel_drift._internal.learn.accumulate import KeyStats
>>> from otel_drift._internal.learn.slots import Slotting
>>> stats = KeyStats(10, 120, random.Random(1), Slotting("hour_of_day"))
>>> hour = 3_600 * 10**9
>>> for k in range(400):  # 10 ms from 00:00, 20 ms from 01:00
...     stats.add({"duration": 10.0 + k % 3 + 10.0 * (k >= 200)}, k * hour // 200, 0, k // 200)
>>> stats.finish()
>>> profile = numeric_profile(stats, "duration", bins=4, min_count=100, timezone="UTC")
>>> profile["profile"], profile["slots"][0]["bins"] == profile["slots"][1]["bins"]
('hour_of_day', True)
>>> profile["slots"][0]["bins"]
[0, 9.74155, 12.3692, 22.4711, 247.182]
>>> profile["slots"][0]["fractions"], profile["slots"][1]["fractions"]
([0.004975, 0.99005, 0.0, 0.004975], [0.004975, 0.0, 0.99005, 0.004975])
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import numpy as np

from otel_drift._internal.expectations.model import Watch
from otel_drift._internal.expectations.profiles import (
    merge_sparse_slots,
    nearest_slots,
    profile_baseline,
    slot_key,
)
from otel_drift._internal.learn import grid
from otel_drift._internal.learn.accumulate import KeyStats
from otel_drift._internal.learn.bins import (
    categorical_baseline,
    inner_probabilities,
    open_edges,
    open_fractions,
)
from otel_drift._internal.learn.reference import WindowScores
from otel_drift._internal.learn.slots import COARSE, COARSE_CELLS, SlotStats
from otel_drift._internal.learn.yaml_text import plain_number

#: A value inside each coarse cell (the middle of its third fine cell).
_MIDDLES = grid.cell_values(np.arange(COARSE_CELLS) * COARSE + COARSE // 2)


def _boundary(cell: int) -> float:
    return float(f"{grid.lower_edge(cell * COARSE):.6g}")


def shared_edges(pooled: np.ndarray[Any, Any], low: float, high: float, bins: int) -> list[float]:
    """Open-outer-bin edges at the pooled coarse counts' quantiles, on coarse boundaries."""
    cells = np.flatnonzero(pooled)
    if cells.size <= bins:
        inner = [_boundary(int(c)) for c in cells] + [_boundary(int(cells[-1]) + 1)]
    else:
        found = grid.quantile_cells(pooled, inner_probabilities(bins))
        inner = [_boundary(found[0])] + [_boundary(c + 1) for c in found[1:]]
    return open_edges(inner, low=low, high=high)


def numeric_profile(
    stats: KeyStats, name: str, *, bins: int, min_count: int, timezone: str
) -> dict[str, Any]:
    """The ``baseline:`` profile of numeric value ``name`` (no ``reference:`` yet)."""
    slotted = _slotted(stats)
    counts = {slot: slotted.coarse_counts(name, slot) for slot in slotted.numbers[name]}
    pooled = np.sum(list(counts.values()), axis=0)
    edges = shared_edges(pooled, stats.low[name], stats.high[name], bins)
    written = [plain_number(edge) for edge in edges]
    slots = {}
    for slot, held in counts.items():
        binned, _ = np.histogram(_MIDDLES, bins=np.array(edges), weights=held)
        slots[slot] = {
            "bins": written,
            "fractions": open_fractions(binned.tolist()),
            "samples": int(held.sum()),
        }
    kind = slotted.slotting.kind
    return profile_baseline(kind, merge_sparse_slots(kind, slots, min_count), timezone)


def label_profile(stats: KeyStats, name: str, *, min_count: int, timezone: str) -> dict[str, Any]:
    """The ``baseline:`` profile of label value ``name`` (labels beyond the vocabulary left out)."""
    slotted = _slotted(stats)
    texts = stats.vocabulary.get(name, {})
    slots = {}
    for slot, counts in slotted.labels[name].items():
        found = {text: int(counts[code]) for text, code in texts.items() if counts[code]}
        if found:
            slots[slot] = categorical_baseline(found)
    kind = slotted.slotting.kind
    return profile_baseline(kind, merge_sparse_slots(kind, slots, min_count), timezone)


def slot_references(
    watch: Watch, stats: KeyStats, name: str, *, window: int, min_samples: int
) -> dict[int | str, dict[str, Any]]:
    """Each slot's ``reference:`` block (slot key -> block), from the windows it judges."""
    profile = watch.profile
    assert profile is not None  # only called for a profile
    slotted = _slotted(stats)
    judged_by = nearest_slots(profile.kind, profile.slots)
    windows: dict[int, list[np.ndarray[Any, Any]]] = defaultdict(list)
    for started_in, kept in sorted(slotted.windows.items()):
        for stored in kept:
            column = stored.get(name)
            if column is not None:
                windows[judged_by[started_in]].append(column)
    blocks: dict[int | str, dict[str, Any]] = {}
    for slot, columns in windows.items():
        scores = WindowScores(
            dataclasses.replace(watch, baseline=profile.slots[slot]),
            window=window,
            min_samples=min_samples,
        )
        # A slot's windows come from several days: each is scored on its own.
        for column in columns:
            scores.add(stats.replay(name, column), follows=False)
        block = scores.block()
        if block is not None:
            blocks[slot_key(profile.kind, slot)] = block
    return blocks


def _slotted(stats: KeyStats) -> SlotStats:
    if stats.slotted is None:
        raise ValueError("this key was learned without a profile")
    return stats.slotted
