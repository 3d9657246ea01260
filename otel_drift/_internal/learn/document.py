"""The learned expectations file: what a :class:`Learner` saw, as expectations a person reviews.

For each key seen at least ``min_spans`` times (at most ``max_expectations``
of them, the mix first, then the busiest): a ``match`` in the attribute
names the service sends, and per watched value a baseline from the data -
numbers binned with open outer bins (``bins.py``) on the log grid
(``grid.py``), labels as their shares. Each baseline's ``reference:``
block comes from the recording's own windows (``reference.py``) at the
configured window size, so the loader learns thresholds that keep the
recorded service quiet against itself. Each expectation carries a
``learned:`` block (informational: spans, period, p50/p95/p99, the
reference windows' score spread).

A route served under one method is matched by its route alone; a route
served under several gets one expectation per method.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otel_drift._internal.expectations.load import loads_expectations
from otel_drift._internal.expectations.model import DEFAULT_MIN_SAMPLES, JSON_SHAPE_ATTRIBUTE
from otel_drift._internal.learn import grid
from otel_drift._internal.learn.accumulate import MISSING, NUMERIC, OTHER, KeyStats, Learner
from otel_drift._internal.learn.bins import (
    inner_probabilities,
    open_edges,
    open_fractions,
    rounded_shares,
)
from otel_drift._internal.learn.discover import (
    INPUT_TOKENS,
    METHOD_ATTRIBUTES,
    OUTPUT_TOKENS,
    VARIANT_ATTRIBUTES,
    Key,
)
from otel_drift._internal.learn.reference import WindowScores, has_window_score
from otel_drift._internal.learn.yaml_text import plain_number, watch_name

#: Bins per numeric baseline (two of them the open outer bins).
BINS = 10
#: Families in the order they are kept when there are more than ``max_expectations``.
ORDER = {"mix": 0, "route": 1, "client": 2, "llm": 3, "flag": 4}
#: Where each watched value comes from in the file.
SOURCES: Mapping[str, dict[str, Any]] = {
    "duration": {"source": "span.duration", "unit": "ms"},
    "status": {"source": "http.status_class"},
    "shape": {"attribute": JSON_SHAPE_ATTRIBUTE},
    "route": {"attribute": "http.route"},
    "method": {"attribute": list(METHOD_ATTRIBUTES)},
    "input_tokens": {"attribute": list(INPUT_TOKENS)},
    "output_tokens": {"attribute": list(OUTPUT_TOKENS)},
    "variant": {"attribute": list(VARIANT_ATTRIBUTES)},
}
#: How each family's expectation is described in the file.
DESCRIBED = {
    "mix": "The service's traffic mix (routes, methods)",
    "route": "Served route",
    "client": "Client calls to",
    "llm": "LLM calls to model",
    "flag": "Evaluations of feature flag",
}
#: Watch names in the file.
WATCH_NAMES = {"duration": "latency"}
#: Labels recorded for information only (the engine reads no array attribute).
INFORMATIONAL = frozenset({"finish"})
_PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Options:
    window: int
    min_spans: int
    max_expectations: int
    bins: int = BINS


@dataclass
class Learned:
    """The document, and what was left out (for the command's notes)."""

    document: dict[str, Any]
    spans: int
    first_ns: int
    last_ns: int
    too_few: list[str] = field(default_factory=list)
    over_limit: list[str] = field(default_factory=list)


def _label(key: Key, by_method: bool = True) -> str:
    if key.family == "mix":
        return ""
    if key.family == "route" and key.method and by_method:
        return f"{key.method} {key.target}"
    return key.target


def _name(key: Key, by_method: bool, taken: set[str]) -> str:
    """``traffic``, ``route.orders``, ``route.POST.orders``, ``client.api.example.com_items``..."""
    if key.family == "mix":
        return watch_name("traffic", taken)
    clean = re.sub(r"[^A-Za-z0-9.-]+", "_", _label(key, by_method)).strip("_.")
    return watch_name(f"{key.family}.{clean}", taken)


def _chosen(learner: Learner, options: Options) -> tuple[list[tuple[Key, bool]], Learned]:
    """(key, match by method) of the keys written, best first; and the notes."""
    learned = Learned({}, learner.spans, 0, 0)
    methods: dict[str, int] = defaultdict(int)
    for key in learner.keys:
        if key.family == "route":
            methods[key.target] += 1
    eligible = []
    for key, stats in learner.keys.items():
        if stats.spans < options.min_spans:
            learned.too_few.append(f"{key.family} {_label(key)} ({stats.spans} spans)")
        else:
            eligible.append(key)
    eligible.sort(key=lambda k: (ORDER[k.family], -learner.keys[k].spans, k.target, k.method))
    kept = eligible[: options.max_expectations]
    learned.over_limit = [f"{k.family} {_label(k)}" for k in eligible[options.max_expectations :]]
    return [(k, k.family == "route" and methods[k.target] > 1) for k in kept], learned


def _match(key: Key, by_method: bool) -> dict[str, Any]:
    pairs = key.match if by_method or key.family != "route" else key.match[:1]
    match: dict[str, Any] = {}
    if key.family == "flag" and not key.kind:
        match = {"span_name": "feature_flag.evaluation", "span_kind": "internal"}
        match["scope"] = "otel_drift.instrumentation.openfeature"
    elif key.kind in ("server", "client"):
        match["span_kind"] = key.kind
    if pairs:
        match["attributes"] = dict(pairs)
    if key.regexes:
        match["attribute_regex"] = dict(key.regexes)
    return match


def numeric_baseline(
    counts: np.ndarray[Any, Any], low: float, high: float, bins: int
) -> dict[str, Any]:
    """Open-outer-bin edges on grid boundaries and the shares of ``counts`` (grid cells)."""
    cells = np.flatnonzero(counts)
    if cells.size <= bins:
        inner = [grid.lower_edge(int(c)) for c in cells] + [grid.lower_edge(int(cells[-1]) + 1)]
    else:
        found = grid.quantile_cells(counts, inner_probabilities(bins))
        inner = [grid.lower_edge(found[0])] + [grid.lower_edge(c + 1) for c in found[1:]]
    edges = open_edges([float(f"{e:.6g}") for e in inner], low=low, high=high)
    middles = grid.cell_values(cells)
    binned, _ = np.histogram(middles, bins=np.array(edges), weights=counts[cells])
    return {
        "bins": [plain_number(e) for e in edges],
        "fractions": open_fractions(binned.tolist()),
        "samples": int(counts.sum()),
    }


def _categorical_baseline(counts: Mapping[str, int]) -> dict[str, Any]:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shares = rounded_shares([count for _, count in ordered])
    total = sum(counts.values())
    categories = {text: share for (text, _), share in zip(ordered, shares, strict=True)}
    return {"categories": categories, "samples": total}


def _watches(stats: KeyStats, options: Options) -> dict[str, dict[str, Any]]:
    watches: dict[str, dict[str, Any]] = {}
    least = max(1, options.min_spans // 2)
    for name, counts in stats.numbers.items():
        if int(counts.sum()) >= least:
            baseline = numeric_baseline(counts, stats.low[name], stats.high[name], options.bins)
            watches[WATCH_NAMES.get(name, name)] = {**SOURCES[name], "baseline": baseline}
    for name in stats.labels:
        labels = stats.label_counts(name)
        if name in INFORMATIONAL or sum(labels.values()) < least:
            continue
        watches[WATCH_NAMES.get(name, name)] = {
            **SOURCES[name],
            "baseline": _categorical_baseline(labels),
        }
    return watches


def _percentiles(stats: KeyStats) -> dict[str, Any]:
    counts = stats.numbers.get("duration")
    if counts is None or not counts.sum():
        return {}
    values = grid.quantiles(counts, list(_PERCENTILES))
    return {
        f"p{int(p * 100)}_ms": float(f"{v:.4g}") for p, v in zip(_PERCENTILES, values, strict=True)
    }


def _replay(stats: KeyStats, name: str, codes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A stored window's column as the engine would read it: numbers (NaN) or labels (None)."""
    if name in NUMERIC:
        values = grid.cell_values(codes)
        return np.where(codes == MISSING, np.nan, values)
    table = np.array([*stats.vocabulary.get(name, {}), None], dtype=object)
    texts = np.full(codes.size, None, dtype=object)
    present = codes >= 0
    known = present & (codes < OTHER)
    texts[known] = table[codes[known]]
    texts[present & (codes == OTHER)] = "\x00other"
    return texts


def _reference(document: dict[str, Any], chosen: list[KeyStats], options: Options) -> None:
    """Score each key's stored windows against its new baselines; write ``reference:``."""
    loaded = loads_expectations(json.dumps(document))
    for entry, expectation, stats in zip(
        document["expectations"], loaded.expectations, chosen, strict=True
    ):
        spread: dict[str, Any] = {}
        names = {WATCH_NAMES.get(n, n): n for n in (*stats.numbers, *stats.labels)}
        for watch in expectation.watch:
            if not has_window_score(watch):
                continue
            scores = WindowScores(watch, window=options.window, min_samples=expectation.min_samples)
            for window in stats.windows:
                column = window.get(names[watch.name])
                if column is not None:
                    scores.add(_replay(stats, names[watch.name], column))
            block = scores.block()
            if block is None:
                continue
            written = entry["watch"][watch.name]
            written["baseline"]["reference"] = block
            spread[watch.name] = {k: block[k] for k in ("mean", "std", "max")}
        entry["learned"]["windows"] = len(stats.windows)
        if spread:
            entry["learned"]["scores"] = spread


def _when(ns: int) -> str:
    moment = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def learned_document(learner: Learner, options: Options) -> Learned:
    """The expectations file learned by ``learner`` (call ``learner.finish()`` first)."""
    chosen, learned = _chosen(learner, options)
    expectations = []
    taken: set[str] = set()
    kept: list[KeyStats] = []
    min_samples = min(DEFAULT_MIN_SAMPLES, max(1, options.window // 2))
    for key, by_method in chosen:
        stats = learner.keys[key]
        watches = _watches(stats, options)
        if not watches:
            learned.too_few.append(f"{key.family} {_label(key)} (no value seen often enough)")
            continue
        info: dict[str, Any] = {
            "spans": stats.spans,
            "period": {"from": _when(stats.first_ns), "to": _when(stats.last_ns)},
            **_percentiles(stats),
        }
        finish = stats.label_counts("finish")
        if finish:
            info["finish_reasons"] = _categorical_baseline(finish)["categories"]
        expectations.append(
            {
                "name": _name(key, by_method, taken),
                "description": f"{DESCRIBED[key.family]} {_label(key, by_method)}".strip(),
                "match": _match(key, by_method),
                "window": {"spans": options.window},
                "min_samples": min_samples,
                "watch": watches,
                "learned": info,
            }
        )
        kept.append(stats)
        learned.first_ns = min(learned.first_ns or stats.first_ns, stats.first_ns)
        learned.last_ns = max(learned.last_ns, stats.last_ns)
    learned.document = {"version": 1, "expectations": expectations}
    if expectations:
        # No warning/critical is written: the loader learns them from reference:.
        _reference(learned.document, kept, options)
    return learned


def header(learned: Learned, source: str) -> str:
    """The file's opening comment: what it was learned from, and when."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    period = (
        f"{_when(learned.first_ns)} to {_when(learned.last_ns)}" if learned.first_ns else "no spans"
    )
    count = len(learned.document.get("expectations", ()))
    return (
        f"Learned by otel-drift on {now} from {source}:\n"
        f"{learned.spans:,} spans, {period}; {count} expectations.\n"
        "Each baseline's reference: block is how the recording's own windows scored against it;\n"
        "thresholds are learned from it unless warning/critical are set. Edit freely, then check\n"
        "it with `otel-drift validate FILE`.\n"
    )
