"""The file ``baseline --from-prometheus`` writes: expectations from per-window histogram counts.

Per server route (and method, where a route serves several) and per client
host (``prom_histograms.KeyCounts``): latency binned on the histogram's own
buckets in milliseconds with open outer bins (``learn/bins.py``: the lowest
bucket starts at 0, the ``+Inf`` bucket is the open overflow up to 11 times
the highest bound, neither outer share is 0) and the status-class mix; and
the service's traffic mix (routes, methods). The shape is ``--from-traces``'s
(names, ``match``, watched values, ``learned:``), with ``window: {seconds}``.

With ``--profile``, each watched value gets a baseline per hour of the day
or week: the windows are grouped by the slot their start falls in (as the
engine judges them), a slot with too few requests is folded into its
neighbour (``expectations/profiles.py``), and each slot kept gets a
``reference:`` block from the windows it judges. The buckets are one set of
edges for every slot, as the format requires.

Reference windows: a Prometheus window holds however many requests came in
its duration, so each is scored as one window of its own size, its counts
replayed at their bins' middles (which the baseline's edges bin back where
they came from) or as their labels, through ``learn/reference.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from otel_drift._internal.cli.baseline.prom_histograms import (
    Family,
    Floats,
    KeyCounts,
    Selection,
    Windows,
)
from otel_drift._internal.expectations.load import loads_expectations
from otel_drift._internal.expectations.model import DEFAULT_MIN_SAMPLES, Watch
from otel_drift._internal.expectations.profiles import (
    merge_sparse_slots,
    nearest_slots,
    profile_baseline,
    slot_key,
    slot_of,
)
from otel_drift._internal.learn.bins import categorical_baseline, open_edges, open_fractions
from otel_drift._internal.learn.document import DESCRIBED, SOURCES
from otel_drift._internal.learn.reference import MIN_WINDOWS, WindowScores, has_window_score
from otel_drift._internal.learn.yaml_text import dotted_name, plain_number, watch_name

_PERCENTILES = (0.5, 0.95, 0.99)
Rows = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass
class Watched:
    """Per-window counts of one watched value: numeric on ``edges``, or of ``labels``."""

    counts: Floats  # [windows, bins or labels]
    edges: list[float] | None = None
    labels: list[str] | None = None

    def raw(self, rows: Rows) -> dict[str, Any] | None:
        """The baseline of the windows ``rows`` picks (None when they counted nothing)."""
        total = self.counts[rows].sum(axis=0)
        if total.sum() <= 0:
            return None
        if self.edges is not None:
            return {
                "bins": [plain_number(edge) for edge in self.edges],
                "fractions": open_fractions(total.tolist()),
                "samples": int(total.sum()),
            }
        assert self.labels is not None
        return categorical_baseline(
            {name: int(count) for name, count in zip(self.labels, total, strict=True) if count}
        )

    def replayed(self) -> np.ndarray[Any, Any]:
        if self.edges is not None:
            edges = np.array(self.edges, dtype=float)
            middles: np.ndarray[Any, Any] = (edges[:-1] + edges[1:]) / 2
            return middles
        return np.array(self.labels, dtype=object)


@dataclass(frozen=True)
class Slots:
    """``--profile``: the profile's kind and zone, and the slot each window starts in."""

    kind: str
    timezone: str
    of_window: np.ndarray[Any, np.dtype[np.int64]]

    @classmethod
    def of(cls, kind: str, timezone: str, windows: Windows) -> Slots:
        zone = ZoneInfo(timezone)
        starts = (windows.start + windows.seconds * k for k in range(windows.count))
        slots = [slot_of(kind, zone, int(start * 1e9)) for start in starts]
        return cls(kind, timezone, np.array(slots, dtype=np.int64))


@dataclass
class _Entry:
    document: dict[str, Any]
    typical: float
    watched: dict[str, Watched] = field(default_factory=dict)


def when(stamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _latency(counts: KeyCounts) -> Watched | None:
    """Per-window counts on the buckets, with edges in ms and open ends."""
    bounds = sorted(counts.buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    stacked = np.column_stack([counts.buckets[bound] for bound in bounds])
    cumulative = np.maximum.accumulate(stacked, axis=1)
    positive = [i for i, bound in enumerate(bounds[:-1]) if bound > 0]
    if not positive:
        return None
    # [0, b1) holds everything up to b1 (a 0 bound's bucket too); +Inf is the overflow.
    columns = [cumulative[:, positive[0]]]
    columns += [cumulative[:, i] - cumulative[:, j] for j, i in itertools.pairwise(positive)]
    columns.append(cumulative[:, -1] - cumulative[:, positive[-1]])
    per_bin = np.rint(np.clip(np.column_stack(columns), 0.0, None))
    inner = [float(f"{bounds[i] * counts.family.to_ms:.6g}") for i in positive]
    return Watched(per_bin, edges=open_edges(inner, low=0.0, high=inner[-1]))


def _labels(columns: dict[str, Floats]) -> Watched | None:
    names = sorted(columns)
    counts = np.rint(np.column_stack([columns[name] for name in names]))
    return Watched(counts, labels=names) if counts.sum() > 0 else None


def _percentiles(edges: list[float], total: Floats) -> dict[str, float]:
    """p50/p95/p99 in ms, interpolated inside a bucket as ``histogram_quantile`` does."""
    cumulative = np.cumsum(total)
    found = {}
    for p in _PERCENTILES:
        rank = p * cumulative[-1]
        i = int(np.searchsorted(cumulative, rank, side="left"))
        if i >= len(total) - 1:  # the open overflow: its lower edge, as Prometheus says
            value = edges[-2]
        else:
            before = cumulative[i - 1] if i else 0.0
            share = (rank - before) / total[i] if total[i] else 0.0
            value = edges[i] + (edges[i + 1] - edges[i]) * share
        found[f"p{int(p * 100)}_ms"] = float(f"{value:.4g}")
    return found


def _match(counts: KeyCounts, by_method: bool) -> dict[str, Any]:
    family = counts.family
    if family.kind == "server":
        attributes = {"http.route": counts.target}
        if by_method:
            attributes[family.method_attribute] = counts.method
        return {"span_kind": "server", "attributes": attributes}
    if family.stable:
        return {"span_kind": "client", "attributes": {"server.address": counts.target}}
    # Old-convention client spans carry the URL, not the host.
    host = re.escape(counts.target)
    return {
        "span_kind": "client",
        "attribute_regex": {"http.url": f"^[a-z]+://{host}(:[0-9]+)?(/|$)"},
    }


def _block(watch: Watch, watched: Watched, rows: Rows, min_samples: int) -> dict[str, Any] | None:
    """The ``reference:`` block of the windows ``rows`` picks, each scored at its own size."""
    values = watched.replayed()
    scores = WindowScores(watch, window=1, min_samples=min_samples)
    sizes = []
    for row in watched.counts[rows]:
        size = int(row.sum())
        if size < max(min_samples, 1):
            continue
        sizes.append(size)
        scores.add_window(np.repeat(values, row.astype(np.int64)))
    block = scores.block()
    if block is not None:
        block["window"] = max(1, int(np.median(sizes)))
    return block


class PromDocument:
    """The keys' counts -> the document's expectations, then their ``reference:`` blocks."""

    def __init__(
        self, url: str, selection: Selection, windows: Windows, slots: Slots | None = None
    ) -> None:
        self.url = url
        self.selection = selection
        self.windows = windows
        self.slots = slots
        self.taken: set[str] = set()
        self.entries: list[_Entry] = []
        self.requests = 0

    @property
    def document(self) -> dict[str, Any]:
        return {"version": 1, "expectations": [entry.document for entry in self.entries]}

    def _entry(
        self, name: str, description: str, match: dict[str, Any], family: Family, requests: Floats
    ) -> _Entry:
        busy = requests[requests > 0]
        typical = float(np.median(busy)) if busy.size else 1.0
        document = {
            "name": watch_name(name, self.taken),
            "description": description,
            "match": match,
            "window": {"seconds": plain_number(self.windows.seconds)},
            # Half a typical window, at most the engine's default.
            "min_samples": max(1, min(DEFAULT_MIN_SAMPLES, int(typical // 2))),
            "watch": {},
            "learned": {
                "source": self.url,
                "metric": family.metric,
                "selected": self.selection.describe(),
                "requests": int(requests.sum()),
                "period": {"from": when(self.windows.start), "to": when(self.windows.end)},
            },
        }
        return _Entry(document, typical)

    def _watch(self, entry: _Entry, name: str, source: str, watched: Watched | None) -> None:
        if watched is None:
            return
        everything = np.ones(self.windows.count, dtype=bool)
        baseline = watched.raw(everything)
        if baseline is None:
            return
        if self.slots is not None:
            # A slot holding less than a reference's windows is folded into its neighbour.
            least = int((MIN_WINDOWS + 1) * entry.typical)
            kind, of_window = self.slots.kind, self.slots.of_window
            held = {int(s): watched.raw(of_window == s) for s in np.unique(of_window)}
            kept = {slot: raw for slot, raw in held.items() if raw is not None}
            merged = merge_sparse_slots(kind, kept, least)
            baseline = profile_baseline(kind, merged, self.slots.timezone)
        entry.document["watch"][name] = {**SOURCES[source], "baseline": baseline}
        entry.watched[name] = watched

    def key(self, counts: KeyCounts, by_method: bool) -> None:
        """A route's or client host's expectation: latency and status-class mix."""
        latency = _latency(counts)
        if latency is None or latency.edges is None:
            return
        family = "route" if counts.family.kind == "server" else "client"
        label = f"{counts.method} {counts.target}" if by_method else counts.target
        requests = latency.counts.sum(axis=1)
        match = _match(counts, by_method)
        name, description = dotted_name(family, label), f"{DESCRIBED[family]} {label}"
        entry = self._entry(name, description, match, counts.family, requests)
        self._watch(entry, "latency", "duration", latency)
        self._watch(
            entry, "status", "status", _labels(counts.statuses) if counts.statuses else None
        )
        total = latency.counts.sum(axis=0)
        entry.document["learned"].update(_percentiles(latency.edges, total))
        self.requests += int(requests.sum())
        self.entries.append(entry)

    def mix(self, keys: list[KeyCounts]) -> None:
        """The service's traffic mix: each route's and method's share of the requests."""
        routes: dict[str, Floats] = defaultdict(lambda: np.zeros(self.windows.count))
        methods: dict[str, Floats] = defaultdict(lambda: np.zeros(self.windows.count))
        for counts in keys:
            served = counts.buckets.get(math.inf)
            if served is not None:
                routes[counts.target] += served
                if counts.method:
                    methods[counts.method] += served
        requests = np.rint(sum(routes.values(), np.zeros(self.windows.count)))
        match = {"span_kind": "server"}
        entry = self._entry("traffic", DESCRIBED["mix"], match, keys[0].family, requests)
        for name, columns in (("route", routes), ("method", methods)):
            self._watch(entry, name, name, _labels(columns) if columns else None)
        if entry.document["watch"]:
            self.entries.insert(0, entry)

    def reference(self) -> None:
        """Score each window against the learned baselines; write ``reference:`` blocks."""
        loaded = loads_expectations(json.dumps(self.document))
        for entry, expectation in zip(self.entries, loaded.expectations, strict=True):
            spread = {}
            for watch in expectation.watch:
                if not has_window_score(watch) or watch.name not in entry.watched:
                    continue
                written = entry.document["watch"][watch.name]["baseline"]
                block = self._reference(watch, entry.watched[watch.name], written, expectation)
                if block is not None:
                    spread[watch.name] = block
            entry.document["learned"]["windows"] = self.windows.count
            if spread:
                entry.document["learned"]["scores"] = spread

    def _reference(
        self, watch: Watch, watched: Watched, written: dict[str, Any], expectation: Any
    ) -> dict[str, Any] | None:
        """Write the watch's ``reference:`` block(s); return its spread for ``learned:``."""
        least = expectation.min_samples
        profile = watch.profile
        if profile is None or self.slots is None:
            block = _block(watch, watched, np.ones(self.windows.count, dtype=bool), least)
            if block is not None:
                written["reference"] = block
                return {k: block[k] for k in ("mean", "std", "max")}
            return None
        judged_by = nearest_slots(profile.kind, profile.slots)
        groups = np.array([judged_by[int(s)] for s in self.slots.of_window])
        blocks = []
        for slot, baseline in profile.slots.items():
            slotted = dataclasses.replace(watch, baseline=baseline)
            block = _block(slotted, watched, groups == slot, least)
            if block is not None:
                written["slots"][slot_key(profile.kind, slot)]["reference"] = block
                blocks.append(block)
        if not blocks:
            return None
        widest = max(blocks, key=lambda block: block["max"])
        return {**{k: widest[k] for k in ("mean", "std", "max")}, "slots": len(blocks)}
