"""Relearning an expectations file from new spans, keeping what the user edited in it.

``otel-drift baseline --from-traces ... --update EXISTING`` (and anything that
refreshes a learned file) learns the recording as usual, then merges:

* each learned expectation is matched to one of EXISTING by its ``match``
  (the learned file's match for the same key), else by its name (the user
  edited the match); a matched expectation keeps everything the user wrote
  (name, description, match, window, thresholds, methods, constraints,
  hysteresis, feedback) and only the baselines of its watched values are
  replaced by the learned ones. A watched value is refreshed when it has a
  ``baseline:`` and the learned expectation watches the same source (same
  source kind, attributes and unit; by the same name first), so a user who
  changed a unit or an attribute keeps a baseline of their own;
* the ``reference:`` blocks are scored again on the merged file, with each
  watch's own method and window, so learned thresholds fit the user's
  choices, and a declared ``warning``/``critical`` stays as written;
* learned expectations EXISTING has no match for are added (names made
  unique); watched values a matched expectation does not have are not added
  (a watch the user deleted stays deleted); expectations and watches the
  recording did not cover are kept as they are.

YAML comments are not carried over: the file is written anew, with a header
saying what was learned and what was kept.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_drift._internal.expectations.errors import ProblemList
from otel_drift._internal.expectations.load import load_expectations, loads_expectations
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile
from otel_drift._internal.expectations.normalize import normalize
from otel_drift._internal.expectations.parse import parse
from otel_drift._internal.expectations.read import read_text
from otel_drift._internal.learn.accumulate import KeyStats, Learner
from otel_drift._internal.learn.document import (
    Learned,
    Options,
    score_references,
    unscored_document,
    value_names,
)
from otel_drift._internal.learn.yaml_text import watch_name


@dataclass(frozen=True)
class Existing:
    """An expectations file as written (JSON-shaped) and as loaded (both in one order)."""

    path: str
    document: dict[str, Any]
    loaded: ExpectationsFile


def read_existing(path: str | Path) -> Existing:
    """EXISTING, checked like ``otel-drift validate`` (raises ``ExpectationsError`` naming it)."""
    name = str(path)
    loaded = load_expectations(name)
    problems = ProblemList()
    parsed = parse(read_text(name), json_file=name.endswith(".json"), problems=problems)
    document = normalize(parsed, problems)
    assert isinstance(document, dict)  # it loaded
    return Existing(name, document, loaded)


#: The edits counted in a summary: declared warning/critical, method, constraints; renamed
#: expectations, edited matches.
EDITS = ("thresholds", "method", "constraints", "name", "match")


@dataclass
class Summary:
    """What the merge did, for the command's message and the file's header."""

    relearned: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    #: User edits kept in relearned expectations, by kind (:data:`EDITS`).
    kept: Counter[str] = field(default_factory=Counter)

    def text(self) -> str:
        kept = ", ".join(f"{what} {self.kept[what]}" for what in EDITS if self.kept[what])
        untouched = ""
        if self.untouched:
            shown = ", ".join(self.untouched[:5]) + (" ..." if len(self.untouched) > 5 else "")
            untouched = f" ({shown})"
        return (
            f"{len(self.relearned)} relearned (edits kept: {kept or 'none'}), "
            f"{len(self.added)} added, {len(self.untouched)} untouched{untouched}"
        )


def _pair(learned: ExpectationsFile, existing: ExpectationsFile) -> dict[int, int]:
    """Learned index -> existing index: by equal match first, then by name."""
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for by_match in (True, False):
        for i, new in enumerate(learned.expectations):
            if i in pairs:
                continue
            for j, old in enumerate(existing.expectations):
                same = new.match == old.match if by_match else new.name == old.name
                if j not in used and same:
                    pairs[i] = j
                    used.add(j)
                    break
    return pairs


def _refresh(
    entry: dict[str, Any],
    *,
    old: Expectation,
    new_entry: dict[str, Any],
    new: Expectation,
    stats: KeyStats,
    summary: Summary,
) -> dict[str, str]:
    """Put the learned baselines into ``entry``'s watches; watch name -> learner's value name."""
    values = value_names(stats)
    learned_sources = {watch.name: watch.source for watch in new.watch}
    taken: set[str] = set()
    names: dict[str, str] = {}
    for watch in old.watch:
        written = entry["watch"][watch.name]
        if "baseline" not in written:
            continue
        same = [n for n, source in learned_sources.items() if source == watch.source]
        found = watch.name if watch.name in same else next(iter(same), None)
        if found is None or found in taken:
            continue
        taken.add(found)
        written["baseline"] = copy.deepcopy(new_entry["watch"][found]["baseline"])
        names[watch.name] = values[found]
        summary.kept["thresholds"] += int("warning" in written or "critical" in written)
        summary.kept["method"] += int("method" in written)
        summary.kept["constraints"] += int("constraints" in written)
    return names


def updated_document(
    learner: Learner, options: Options, existing: Existing
) -> tuple[Learned, Summary]:
    """The learned document merged into ``existing`` (see the module), references scored."""
    learned, stats = unscored_document(learner, options)
    fresh = learned.document["expectations"]
    loaded = loads_expectations(json.dumps(learned.document))
    pairs = _pair(loaded, existing.loaded)
    merged = copy.deepcopy(existing.document.get("expectations", []))
    summary = Summary()
    scored: list[tuple[int, KeyStats, dict[str, str]]] = []
    covered: set[int] = set()
    for i, j in pairs.items():
        old, new = existing.loaded.expectations[j], loaded.expectations[i]
        names = _refresh(
            merged[j], old=old, new_entry=fresh[i], new=new, stats=stats[i], summary=summary
        )
        if not names:
            continue
        covered.add(j)
        merged[j]["learned"] = fresh[i]["learned"]
        scored.append((j, stats[i], names))
        summary.relearned.append(old.name)
        summary.kept["name"] += int(old.name != new.name)
        summary.kept["match"] += int(old.match != new.match)
    summary.untouched = [
        e.name for j, e in enumerate(existing.loaded.expectations) if j not in covered
    ]
    taken = {e.name for e in existing.loaded.expectations}
    for i, entry in enumerate(fresh):
        if i in pairs:
            continue
        entry["name"] = watch_name(entry["name"], taken)
        scored.append((len(merged), stats[i], value_names(stats[i])))
        merged.append(entry)
        summary.added.append(entry["name"])
    document = {**existing.document, "expectations": merged}
    score_references(document, scored, options)
    learned.document = document
    return learned, summary
