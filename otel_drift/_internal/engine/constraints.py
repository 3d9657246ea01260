"""Hard constraints on single values: which positions of a column break which rule.

A broken constraint is a violation, not drift: it is counted per rule and the
offending span is pointed at (see ``signals.ViolationSpans``). Only the first
``limit`` positions per rule are returned, the count is always exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from otel_drift._internal.expectations.model import Constraints
from otel_drift._internal.values import CategoryColumn, NumericColumn

RULE_MIN = "min"
RULE_MAX = "max"
RULE_ALLOWED = "allowed"
RULE_REQUIRED = "required"
RULE_TYPE = "type"

_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
}


@dataclass(frozen=True)
class Violations:
    """Per rule: the exact count and up to ``limit`` positions in the raw column."""

    counts: dict[str, int]
    positions: dict[str, list[int]]

    def __bool__(self) -> bool:
        return bool(self.counts)


def _add(found: Violations, rule: str, positions: Sequence[int], count: int, limit: int) -> None:
    if count:
        found.counts[rule] = found.counts.get(rule, 0) + count
        found.positions.setdefault(rule, []).extend(list(positions[:limit]))


def _type_breaks(raw: Sequence[object], wanted: str) -> list[int]:
    allowed = _TYPE_CHECKS[wanted]
    # Subclasses count as their base type (numpy's float64 is a float, HTTPStatus an
    # int), as in values.py; but bool is a subclass of int and True is never a number.
    return [
        i
        for i, v in enumerate(raw)
        if v is not None
        and (not isinstance(v, allowed) or (wanted != "boolean" and isinstance(v, bool)))
    ]


def check_numeric(
    constraints: Constraints, raw: Sequence[object], column: NumericColumn, limit: int
) -> Violations:
    found = Violations({}, {})
    if constraints.empty:
        return found
    if constraints.required:
        _add(found, RULE_REQUIRED, column.missing_positions, column.missing, limit)
    if constraints.type is not None:
        breaks = _type_breaks(raw, constraints.type)
        if constraints.type == "integer":
            whole = np.isfinite(column.values) & (np.floor(column.values) == column.values)
            breaks += _raw_positions(column, np.flatnonzero(~whole))
            breaks = sorted(set(breaks))
        _add(found, RULE_TYPE, breaks, len(breaks), limit)
    for rule, bound in ((RULE_MIN, constraints.min), (RULE_MAX, constraints.max)):
        if bound is None:
            continue
        bad = column.values < bound if rule == RULE_MIN else column.values > bound
        where = np.flatnonzero(bad)
        _add(found, rule, _raw_positions(column, where[:limit]), int(where.size), limit)
    return found


def check_labels(
    constraints: Constraints, raw: Sequence[object], column: CategoryColumn, limit: int
) -> Violations:
    found = Violations({}, {})
    if constraints.empty:
        return found
    if constraints.required:
        _add(found, RULE_REQUIRED, column.missing_positions, column.missing, limit)
    if constraints.type is not None:
        breaks = _type_breaks(raw, constraints.type)
        _add(found, RULE_TYPE, breaks, len(breaks), limit)
    if constraints.allowed is not None:
        allowed = constraints.allowed
        bad = [i for i, text in enumerate(column.values) if text not in allowed]
        if column.positions is not None:
            bad = [column.positions[i] for i in bad]
        _add(found, RULE_ALLOWED, bad, len(bad), limit)
    return found


def _raw_positions(column: NumericColumn, kept: NDArray[np.intp]) -> list[int]:
    if column.positions is None:
        return [int(i) for i in kept]
    return [int(column.positions[i]) for i in kept]
