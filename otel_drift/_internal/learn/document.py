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
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otel_drift._internal.expectations.learned import TRUSTED_WINDOWS, pooled
from otel_drift._internal.expectations.load import loads_expectations
from otel_drift._internal.expectations.model import (
    DEFAULT_MIN_SAMPLES,
    JSON_SHAPE_ATTRIBUTE,
    Reference,
)
from otel_drift._internal.learn import grid
from otel_drift._internal.learn.accumulate import KeyStats, Learner
from otel_drift._internal.learn.bins import (
    categorical_baseline,
    inner_probabilities,
    open_edges,
    open_fractions,
)
from otel_drift._internal.learn.discover import (
    INPUT_TOKENS,
    METHOD_ATTRIBUTES,
    OUTPUT_TOKENS,
    VARIANT_ATTRIBUTES,
    Key,
)
from otel_drift._internal.learn.profile import label_profile, numeric_profile, slot_references
from otel_drift._internal.learn.reference import (
    MIN_WINDOWS,
    WindowScores,
    has_window_score,
    significant,
)
from otel_drift._internal.learn.yaml_text import dotted_name, plain_number, watch_name

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
#: What ``learned.scores`` shows of a reference (``slots``: a profile's slots scored).
SPREAD = ("mean", "std", "max", "slots")


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
    return watch_name(dotted_name(key.family, _label(key, by_method)), taken)


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


def _watches(stats: KeyStats, options: Options) -> dict[str, dict[str, Any]]:
    """Each watched value seen often enough, with its baseline (a profile when learned per slot)."""
    watches: dict[str, dict[str, Any]] = {}
    least = max(1, options.min_spans // 2)
    slotted = stats.slotted
    # A slot holding less than a reference's windows is folded into its neighbour.
    slot_least = (MIN_WINDOWS + 1) * options.window
    zone = slotted.slotting.timezone if slotted is not None else ""
    for name, counts in stats.numbers.items():
        if int(counts.sum()) < least:
            continue
        if slotted is not None:
            baseline = numeric_profile(
                stats, name, bins=options.bins, min_count=slot_least, timezone=zone
            )
        else:
            baseline = numeric_baseline(counts, stats.low[name], stats.high[name], options.bins)
        watches[WATCH_NAMES.get(name, name)] = {**SOURCES[name], "baseline": baseline}
    for name in stats.labels:
        labels = stats.label_counts(name)
        if name in INFORMATIONAL or sum(labels.values()) < least:
            continue
        watches[WATCH_NAMES.get(name, name)] = {
            **SOURCES[name],
            "baseline": categorical_baseline(labels)
            if slotted is None
            else label_profile(stats, name, min_count=slot_least, timezone=zone),
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


def value_names(stats: KeyStats) -> dict[str, str]:
    """Watch name in the file -> the learner's name of the value it watches."""
    return {WATCH_NAMES.get(n, n): n for n in (*stats.numbers, *stats.labels)}


def _pooled(blocks: Collection[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The slots' ``reference:`` blocks as one (``learned.pooled``), with their number."""
    if not blocks:
        return None
    fields = ("window", "windows", "method", "mean", "std", "max", "root_mean", "root_std")
    both = pooled([Reference(**{f: block[f] for f in fields if f in block}) for block in blocks])
    written = {f: getattr(both, f) for f in fields if getattr(both, f) is not None}
    for rounded in ("mean", "std", "root_mean", "root_std"):
        if rounded in written:
            written[rounded] = significant(written[rounded])
    return {**written, "slots": len(blocks)}


def score_references(
    document: dict[str, Any],
    scored: Sequence[tuple[int, KeyStats, Mapping[str, str]]],
    options: Options,
) -> None:
    """Score stored windows against the document's baselines; write their ``reference:``.

    ``scored``: (index of an expectation, its key's stats, watch name -> value
    name) for the watches to score; other watches are left as they are. Each
    is scored with its own method, at its expectation's window (in spans; the
    learner's for a window in seconds) and ``min_samples``; a profile, slot by
    slot (``profile.py``).
    """
    loaded = loads_expectations(json.dumps(document))
    for index, stats, names in scored:
        entry = document["expectations"][index]
        expectation = loaded.expectations[index]
        window = expectation.window.spans or options.window
        spread: dict[str, Any] = {}
        for watch in expectation.watch:
            name = names.get(watch.name)
            if name is None or not has_window_score(watch):
                continue
            written = entry["watch"][watch.name]["baseline"]
            block: dict[str, Any] | None
            if watch.profile is not None:
                blocks = slot_references(
                    watch, stats, name, window=window, min_samples=expectation.min_samples
                )
                for slot, block in blocks.items():
                    written["slots"][slot]["reference"] = block
                # The loader takes its thresholds from the slots' windows pooled: shown so.
                block = _pooled(blocks.values())
            else:
                scores = WindowScores(watch, window=window, min_samples=expectation.min_samples)
                follows = True
                for after_last, stored in stats.kept_in_order():
                    column = stored.get(name)
                    if column is None:
                        follows = False
                        continue
                    scores.add(stats.replay(name, column), follows=follows and after_last)
                    follows = True
                block = scores.block()
                if block is not None:
                    written["reference"] = block
            if block is not None:
                spread[watch.name] = {k: v for k, v in block.items() if k in SPREAD}
        learned = entry.setdefault("learned", {})
        if stats.slotted is None:
            learned["windows"] = len(stats.windows)
        else:
            learned["windows"] = sum(len(kept) for kept in stats.slotted.windows.values())
        if spread:
            learned["scores"] = spread


def _when(ns: int) -> str:
    moment = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def thin_references(document: Mapping[str, Any]) -> list[str]:
    """``name (N windows)`` of each expectation whose thresholds were learned from few windows.

    Fewer than ``TRUSTED_WINDOWS`` windows pin the spread's tail loosely: a
    steady window unlike any recorded one may alarm. The command and live
    learning name them, so that a longer recording or a smaller window follows.
    """
    thin = []
    for entry in document.get("expectations", []):
        counts = [
            int(watch["baseline"]["reference"]["windows"])
            for watch in entry.get("watch", {}).values()
            if isinstance(watch.get("baseline"), Mapping) and "reference" in watch["baseline"]
        ]
        if counts and min(counts) < TRUSTED_WINDOWS:
            thin.append(f"{entry['name']} ({min(counts)} windows)")
    return thin


def learned_document(learner: Learner, options: Options) -> Learned:
    """The expectations file learned by ``learner`` (call ``learner.finish()`` first)."""
    learned, kept = unscored_document(learner, options)
    if kept:
        # No warning/critical is written: the loader learns them from reference:.
        scored = [(i, stats, value_names(stats)) for i, stats in enumerate(kept)]
        score_references(learned.document, scored, options)
    return learned


def unscored_document(learner: Learner, options: Options) -> tuple[Learned, list[KeyStats]]:
    """The learned document before its ``reference:`` blocks, and each expectation's stats."""
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
            info["finish_reasons"] = categorical_baseline(finish)["categories"]
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
    return learned, kept


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
