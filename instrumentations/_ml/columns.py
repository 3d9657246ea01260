"""Columns as the engine and the constraint checks want them, all vectorized.

Numbers stay numbers (NaN is a missing number); anything else becomes an
object array in which every kind of missing (None, NaN, pandas NA) is None,
so the engine counts it as missing rather than as a category called "nan".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from otel_drift._internal.expectations.model import Constraints

from .inputs import Array

NUMERIC_KINDS = "fiu"


def missing_mask(column: Array) -> Array:
    kind = column.dtype.kind
    if kind == "f":
        return np.isnan(column)
    if kind in "iub" or kind in "USM":
        return np.zeros(column.shape[0], dtype=bool)
    # Object: None, and anything unequal to itself (NaN, pandas NA compares as NA).
    mask: Array = np.asarray(column == None, dtype=bool)  # noqa: E711 - elementwise, in C
    try:
        unequal: Array = np.asarray(column != column, dtype=bool)  # noqa: PLR0124 - NaN test
    except TypeError:  # pandas NA refuses to be a bool; rare, value by value
        unequal = np.array([_is_na(v) for v in column], dtype=bool)
    return mask | unequal


def _is_na(value: object) -> bool:
    try:
        return bool(value != value)  # noqa: PLR0124
    except TypeError:  # pandas NA
        return True


def for_engine(column: Array) -> Array:
    """Bools as 0/1 numbers; object columns with their missing values as None."""
    kind = column.dtype.kind
    if kind == "b":
        return column.astype(np.float64)
    if kind in NUMERIC_KINDS or kind in "US":
        return column
    cleaned = column.astype(object, copy=True)
    cleaned[missing_mask(column)] = None
    return cleaned


def labels(column: Array) -> Array:
    """String labels compared with ``constraints.allowed`` (as the engine labels values)."""
    kind = column.dtype.kind
    if kind == "b":
        return np.where(column, "true", "false")
    if kind in "iu":
        return column.astype(str)
    if kind == "f":
        finite = np.isfinite(column)
        whole = finite & (np.floor(np.where(finite, column, 0)) == column)
        as_int = np.where(whole, column, 0).astype(np.int64).astype(str)
        return np.where(whole, as_int, column.astype(str))
    return column.astype(str)


def violation_counts(constraints: Constraints, column: Array | None, rows: int) -> dict[str, int]:
    """Rows that break each rule (rule -> count, only rules broken at least once)."""
    if constraints.empty:
        return {}
    found: dict[str, int] = {}
    if column is None:
        if constraints.required:
            found["required"] = rows
        return found
    missing = missing_mask(column)
    if constraints.required:
        found["required"] = int(missing.sum())
    present = column[~missing]
    if constraints.min is not None or constraints.max is not None:
        numbers = _numbers(present)
        if numbers is not None:
            if constraints.min is not None:
                found["min"] = int(np.count_nonzero(numbers < constraints.min))
            if constraints.max is not None:
                found["max"] = int(np.count_nonzero(numbers > constraints.max))
    if constraints.allowed is not None and present.size:
        allowed = np.array(sorted(constraints.allowed), dtype=str)
        found["allowed"] = int(np.count_nonzero(~np.isin(labels(present), allowed)))
    return {rule: count for rule, count in found.items() if count}


def _numbers(column: Array) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    if column.dtype.kind in NUMERIC_KINDS:
        return column.astype(np.float64, copy=False)
    try:
        return column.astype(np.float64)
    except (TypeError, ValueError):
        return None
