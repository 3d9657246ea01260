"""Checks of a ``baseline: {profile: ...}`` that JSON Schema cannot express.

Slot keys of the profile's kind, a time zone this machine knows, every slot a
valid ordinary baseline (``baseline_checks.py``), slots all numeric or all
categorical, and numeric slots on the same bin edges: the engine counts a
watched value's windows in one histogram, whatever slot judges them
(``profiles.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otel_drift._internal.expectations.baseline_checks import BaselineChecker
from otel_drift._internal.expectations.baselines import quantile_bins, quantile_points
from otel_drift._internal.expectations.errors import PathParts
from otel_drift._internal.expectations.profiles import (
    KEY_FORMS,
    PROFILE_KINDS,
    slot_number,
)
from otel_drift._internal.expectations.resolve import baseline_kind, is_number

_KEY_EXAMPLES = {"hour_of_day": "0, 9 or 23", "hour_of_week": "mon-09 or sun-23"}


def _edges(slot: Mapping[str, Any]) -> tuple[str, tuple[float, ...]] | None:
    """(the key holding them, the edges) of a numeric slot, when readable."""
    bins = slot.get("bins")
    if isinstance(bins, list) and bins and all(map(is_number, bins)):
        return "bins", tuple(float(edge) for edge in bins)
    quantiles = slot.get("quantiles")
    if isinstance(quantiles, dict):
        points = quantile_points(quantiles)
        if points is not None and len(points) >= 2:
            return "quantiles", quantile_bins(points)[0]
    return None


def _shown(edges: Sequence[float]) -> str:
    text = [f"{edge:g}" for edge in edges]
    if len(text) > 8:
        text = [*text[:4], "...", *text[-3:]]
    return f"[{', '.join(text)}]"


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class ProfileChecker:
    """Reports profile problems through the semantic checker's ``add``."""

    def __init__(self, add: Callable[[PathParts, str, str], None], baselines: BaselineChecker):
        self.add = add
        self.baselines = baselines

    def profile(
        self, raw: Mapping[str, Any], path: PathParts, constraints: Mapping[str, Any]
    ) -> None:
        kind = raw.get("profile")
        zone = raw.get("timezone")
        if isinstance(zone, str) and zone and not _valid_zone(zone):
            self.add(
                (*path, "timezone"),
                f"{json.dumps(zone)} is not a time zone known here.",
                "use an IANA name such as Europe/Paris, America/New_York or UTC "
                "(where the system has no time zone database: pip install tzdata).",
            )
        slots = raw.get("slots")
        if kind not in PROFILE_KINDS or not isinstance(slots, dict):
            return  # the schema says how
        numbered: dict[int, str] = {}
        for key, slot in slots.items():
            where = (*path, "slots", key)
            number = slot_number(kind, key)
            if number is None:
                self.add(
                    where,
                    f"{json.dumps(key)} is not a slot of {kind}: its keys are {KEY_FORMS[kind]}.",
                    f"name the slot like {_KEY_EXAMPLES[kind]}.",
                )
            elif number in numbered:
                self.add(
                    where,
                    f"names the same slot as {json.dumps(numbered[number])}.",
                    "keep one of them.",
                )
            else:
                numbered[number] = key
            if isinstance(slot, dict):
                self.baselines.baseline(slot, where, constraints)
        self._same_kind(slots, path)
        self._same_edges(slots, path)

    def _same_kind(self, slots: Mapping[str, Any], path: PathParts) -> None:
        first: tuple[str, str] | None = None
        for key, slot in slots.items():
            kind = baseline_kind(slot)
            if kind is None:
                continue
            if first is None:
                first = (key, kind)
            elif kind != first[1]:
                self.add(
                    (*path, "slots", key),
                    f"is {kind}, but slot {json.dumps(first[0])} is {first[1]}: "
                    "the slots of one watched value describe the same kind of value.",
                    "describe every slot the same way: bins and fractions (or quantiles) "
                    "for numbers, categories for labels.",
                )
                return

    def _same_edges(self, slots: Mapping[str, Any], path: PathParts) -> None:
        first: tuple[str, tuple[float, ...]] | None = None
        for key, slot in slots.items():
            found = _edges(slot) if isinstance(slot, dict) else None
            if found is None:
                continue
            where, edges = found
            if first is None:
                first = (key, edges)
            elif edges != first[1]:
                self.add(
                    (*path, "slots", key, where),
                    f"gives the bin edges {_shown(edges)}, but slot {json.dumps(first[0])} "
                    f"gives {_shown(first[1])}: one histogram counts this value's windows "
                    "whatever slot judges them, so every slot needs the same edges.",
                    f"use the bins of slot {json.dumps(first[0])} in every slot, each with "
                    "its own fractions (quantiles set their own edges: write bins and "
                    "fractions instead).",
                )
