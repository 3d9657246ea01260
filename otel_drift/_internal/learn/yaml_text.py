"""The expectations file a baseline command writes: readable YAML a person edits.

Lists of numbers go on one line (``bins: [0, 1.5, 3]``), everything else in
block style, keys in the order a reader wants them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

#: Watch names allowed by the schema (they become metric attributes).
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
#: What a learned expectation's label keeps of a route or target (the rest becomes ``_``).
_LABEL = re.compile(r"[^A-Za-z0-9.-]+")


class _Dumper(yaml.SafeDumper):
    pass


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _list)


def dump(document: dict[str, Any], header: str) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + body


def watch_name(feature: str, taken: set[str], suffix: str = "") -> str:
    """A schema-valid, unique watch name for a feature ("mean radius" -> "mean_radius")."""
    base = _NAME.sub("_", feature).strip("_") or "feature"
    if not base[0].isalpha():
        base = f"f{base}"
    base = base[: 62 - len(suffix)] + suffix
    name, n = base, 2
    while name in taken:
        tail = f"_{n}"
        name = base[: 63 - len(tail)] + tail
        n += 1
    taken.add(name)
    return name


def dotted_name(family: str, label: str) -> str:
    """A learned expectation's name before it is made unique: ``route.GET_orders``,
    ``client.api.example.com_items`` (both ``baseline --from-traces`` and
    ``--from-prometheus`` name them so)."""
    return f"{family}.{_LABEL.sub('_', label).strip('_.')}"


def plain_number(value: float) -> float | int:
    """A number as a person writes it: ``12`` rather than ``12.0``."""
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number
