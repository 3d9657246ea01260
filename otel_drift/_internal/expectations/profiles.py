"""Profiles: a baseline per hour of the day or of the week, in a time zone.

Latency at 03:00 is not latency at 14:00: judged against one flat baseline, a
service whose nights are twice as slow as its days alarms every night. A
profile holds an ordinary baseline per time slot, and each window is judged
against the slot its *start* falls in (``engine/profiles.py``)::

    baseline:
      profile: hour_of_week          # or hour_of_day
      timezone: Europe/Paris         # IANA name; default UTC
      slots:
        mon-09: {bins: [...], fractions: [...], samples: 5200}
        sat-03: {bins: [...], fractions: [...], samples: 410}

Slot keys: ``hour_of_day`` takes the hour, 0 to 23 (``9`` or ``09``);
``hour_of_week`` takes ``<day>-<hour>`` with the day's first three letters in
lower case, ``mon-00`` to ``sun-23`` (numbered 0 to 167 inside, Monday 00:00
first). A slot the file leaves out is judged against the nearest slot it
gives, going round the day or the week; at equal distance, the earlier one.
The numeric slots of one watched value share their bin edges (the engine
keeps one histogram); categorical slots are aligned on the union of their
categories, a category a slot does not list having share 0 there.

Here: the slot arithmetic the checks, the builder, the engine and the learner
share, the typed slots the builder makes, and what ``otel-drift baseline
--profile`` calls to write one: :func:`merge_sparse_slots`, then
:func:`profile_baseline`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, get_args

from otel_drift._internal.expectations.baselines import bin_moments
from otel_drift._internal.expectations.model import (
    Baseline,
    BinnedBaseline,
    CategoricalBaseline,
    ProfileKind,
)

PROFILE_KINDS: tuple[str, ...] = get_args(ProfileKind)
#: Slots per cycle.
SLOTS: Mapping[str, int] = {"hour_of_day": 24, "hour_of_week": 168}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEZONE = "UTC"
#: How slot keys are written, for messages.
KEY_FORMS: Mapping[str, str] = {
    "hour_of_day": "an hour from 0 to 23",
    "hour_of_week": "a day and an hour, mon-00 to sun-23 (lower case)",
}

_HOUR = re.compile(r"^(?:[01]?[0-9]|2[0-3])$")
_DAY_HOUR = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)-([01][0-9]|2[0-3])$")


def slot_number(kind: str, key: str) -> int | None:
    """The slot a key names (None: not a key of this kind of profile).

    >>> slot_number("hour_of_day", "09"), slot_number("hour_of_week", "tue-09")
    (9, 33)
    >>> slot_number("hour_of_week", "9") is None
    True
    """
    if kind == "hour_of_day":
        return int(key) if _HOUR.match(key) else None
    found = _DAY_HOUR.match(key) if kind == "hour_of_week" else None
    if found is None:
        return None
    return DAYS.index(found.group(1)) * 24 + int(found.group(2))


def slot_key(kind: str, slot: int) -> int | str:
    """The key a slot is written as (an int for hours of the day).

    >>> slot_key("hour_of_day", 9), slot_key("hour_of_week", 33)
    (9, 'tue-09')
    """
    if kind == "hour_of_day":
        return slot
    return f"{DAYS[slot // 24]}-{slot % 24:02d}"


def slot_of(kind: str, zone: tzinfo, time_ns: int) -> int:
    """The slot ``time_ns`` (ns since the epoch) falls in, in ``zone``'s local time.

    Local time, so a slot follows the clocks across daylight saving changes:
    09:00 in Paris is slot ``mon-09`` in winter and in summer.

    >>> from zoneinfo import ZoneInfo
    >>> paris = ZoneInfo("Europe/Paris")
    >>> winter = 1_767_600_000 * 10**9  # Monday 2026-01-05 08:00 UTC
    >>> slot_key("hour_of_week", slot_of("hour_of_week", paris, winter))
    'mon-09'
    """
    local = datetime.fromtimestamp(time_ns // 1_000_000_000, UTC).astimezone(zone)
    if kind == "hour_of_day":
        return local.hour
    return local.weekday() * 24 + local.hour


def nearest_slots(kind: str, defined: Iterable[int]) -> tuple[int, ...]:
    """For every slot of the cycle, the defined slot a window starting in it is judged by.

    >>> table = nearest_slots("hour_of_day", [0, 12])
    >>> table[5], table[6], table[7], table[23]
    (0, 0, 12, 0)
    """
    size = SLOTS[kind]
    given = set(defined)
    if not given:
        raise ValueError("a profile needs at least one slot")
    table: list[int] = []
    for slot in range(size):
        for distance in range(size):
            before, after = (slot - distance) % size, (slot + distance) % size
            if before in given or after in given:
                table.append(before if before in given else after)
                break
    return tuple(table)


# -- typed slots (the builder) ------------------------------------------------


def aligned_slots(slots: Mapping[int, Baseline]) -> dict[int, Baseline]:
    """Categorical slots with every category of any slot, in one order (share 0 where
    a slot does not list it); numeric slots as they are (the checks made their edges equal)."""
    if not all(isinstance(b, CategoricalBaseline) for b in slots.values()):
        return dict(slots)
    union: dict[str, None] = {}
    for baseline in slots.values():
        assert isinstance(baseline, CategoricalBaseline)
        union.update(dict.fromkeys(baseline.categories))
    result: dict[int, Baseline] = {}
    for slot, baseline in slots.items():
        assert isinstance(baseline, CategoricalBaseline)
        shares = {name: baseline.categories.get(name, 0.0) for name in union}
        result[slot] = CategoricalBaseline(shares, baseline.samples, baseline.reference)
    return result


def pooled_baseline(slots: Mapping[int, Baseline]) -> Baseline:
    """The slots as one baseline: what reads a single baseline (views, rules, ``explain``)
    gets the whole cycle's mix. Slots weigh by ``samples`` when every slot gives it,
    else equally; ``slots`` must be aligned (:func:`aligned_slots`)."""
    baselines = list(slots.values())
    counts = [b.samples for b in baselines]
    known = [c for c in counts if c is not None]
    weights = [float(c) for c in known] if len(known) == len(counts) else [1.0] * len(counts)
    total = math.fsum(weights) or 1.0
    samples = sum(known) if len(known) == len(counts) else None
    first = baselines[0]
    if isinstance(first, CategoricalBaseline):
        names = list(first.categories)
        shares = {
            name: math.fsum(
                w * b.categories.get(name, 0.0)
                for w, b in zip(weights, baselines, strict=True)
                if isinstance(b, CategoricalBaseline)
            )
            / total
            for name in names
        }
        return CategoricalBaseline(shares, samples)
    fractions = tuple(
        math.fsum(
            w * b.fractions[i]
            for w, b in zip(weights, baselines, strict=True)
            if isinstance(b, BinnedBaseline)
        )
        / total
        for i in range(len(first.fractions))
    )
    mean, std = bin_moments(first.edges, fractions)
    return BinnedBaseline(first.edges, fractions, mean, std, samples)


# -- what the learner writes ----------------------------------------------------


def _bin_counts(baseline: Mapping[str, Any]) -> list[float]:
    return [share * float(baseline["samples"]) for share in baseline["fractions"]]


def _category_counts(baseline: Mapping[str, Any]) -> dict[str, float]:
    samples = float(baseline["samples"])
    return {name: share * samples for name, share in baseline["categories"].items()}


def _shares(values: Iterable[float]) -> list[float]:
    """Shares rounded to 6 decimals that still sum to exactly 1 (the rest on the largest)."""
    counts = list(values)
    total = math.fsum(counts)
    shares = [round(count / total, 6) for count in counts]
    largest = max(range(len(shares)), key=shares.__getitem__)
    shares[largest] = round(shares[largest] + 1.0 - math.fsum(shares), 6)
    return shares


def _merged(baselines: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One raw baseline holding the values of several (their counts summed)."""
    samples = sum(int(b["samples"]) for b in baselines)
    if "categories" in baselines[0]:
        counts: dict[str, float] = {}
        for baseline in baselines:
            for name, count in _category_counts(baseline).items():
                counts[name] = counts.get(name, 0.0) + count
        names = sorted(counts, key=lambda name: -counts[name])
        shares = _shares(counts[name] for name in names)
        return {"categories": dict(zip(names, shares, strict=True)), "samples": samples}
    binned = [_bin_counts(b) for b in baselines]
    totals = [math.fsum(column) for column in zip(*binned, strict=True)]
    return {"bins": list(baselines[0]["bins"]), "fractions": _shares(totals), "samples": samples}


def merge_sparse_slots(
    kind: str, slots: Mapping[int, Mapping[str, Any]], min_count: int
) -> dict[int, dict[str, Any]]:
    """Slots (raw baselines by slot number, each with ``samples``) where each slot
    holding fewer than ``min_count`` values is folded into the slot the engine would
    judge its windows by once it is gone (:func:`nearest_slots` of the slots kept).

    Numeric slots must already share their bins (learn the edges on every slot's
    values, then count each slot on them). A merged slot loses its ``reference``:
    score the reference windows against the merged slots. When no slot holds
    ``min_count`` values, all of them become the one that holds the most.

    >>> night = {"bins": [0, 10, 100], "fractions": [0.2, 0.8], "samples": 400}
    >>> day = {"bins": [0, 10, 100], "fractions": [0.8, 0.2], "samples": 5000}
    >>> dawn = {"bins": [0, 10, 100], "fractions": [0.5, 0.5], "samples": 40}
    >>> merged = merge_sparse_slots("hour_of_day", {3: night, 5: dawn, 9: day}, 100)
    >>> sorted(merged), merged[3]
    ([3, 9], {'bins': [0, 10, 100], 'fractions': [0.227273, 0.772727], 'samples': 440})
    """
    if not slots:
        return {}
    kept = [slot for slot, b in slots.items() if int(b["samples"]) >= min_count]
    if not kept:
        kept = [max(slots, key=lambda slot: int(slots[slot]["samples"]))]
    table = nearest_slots(kind, kept)
    groups: dict[int, list[Mapping[str, Any]]] = {slot: [] for slot in sorted(kept)}
    for slot in sorted(slots):
        groups[table[slot]].append(slots[slot])
    return {
        slot: dict(members[0]) if len(members) == 1 else _merged(members)
        for slot, members in groups.items()
    }


def profile_baseline(
    kind: str, slots: Mapping[int, Mapping[str, Any]], timezone: str = DEFAULT_TIMEZONE
) -> dict[str, Any]:
    """The ``baseline:`` mapping of a profile, ready for YAML, slots in cycle order.

    >>> profile_baseline("hour_of_week", {33: {"categories": {"OK": 1.0}}}, "Europe/Paris")["slots"]
    {'tue-09': {'categories': {'OK': 1.0}}}
    """
    if kind not in PROFILE_KINDS:
        raise ValueError(f"unknown profile {kind!r}: use one of {', '.join(PROFILE_KINDS)}")
    return {
        "profile": kind,
        "timezone": timezone,
        "slots": {slot_key(kind, slot): dict(slots[slot]) for slot in sorted(slots)},
    }
