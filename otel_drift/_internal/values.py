"""Turning raw attribute values into numbers or category labels, on the worker.

The hot path copies attribute values as they are; deciding what they mean
happens here, off the request thread, a column at a time. Every raw value
ends up in exactly one bucket: valid, missing (absent or None) or invalid
(a type that cannot mean this kind of value), so counts always add up.

>>> column = numeric_column([1, 2.5, None, True, "3", b"x"])
>>> column.values.tolist(), column.missing, column.invalid
([1.0, 2.5, 3.0], 1, 2)
>>> labels = category_column([200, "404", None, True, 1.0])
>>> labels.values, labels.missing, labels.invalid
(['200', '404', 'true', '1'], 1, 0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Category labels longer than this are cut: a 10 MB attribute must not become
#: a 10 MB dictionary key (and labels are exported as metric attributes).
MAX_LABEL_LENGTH = 128
#: Longest string that is still tried as a number ("1e-3", "  42 ").
MAX_NUMERIC_TEXT = 64

_PLAIN_NUMBERS = frozenset({int, float})


@dataclass(frozen=True)
class NumericColumn:
    values: NDArray[np.float64]
    #: Position of each kept value in the raw column (None when all were kept).
    positions: NDArray[np.intp] | None
    missing: int
    invalid: int
    #: Positions (in the raw column) of the invalid values, for violation reports.
    invalid_positions: tuple[int, ...] = ()
    missing_positions: tuple[int, ...] = ()


@dataclass(frozen=True)
class CategoryColumn:
    values: list[str]
    positions: list[int] | None
    missing: int
    invalid: int
    invalid_positions: tuple[int, ...] = ()
    missing_positions: tuple[int, ...] = ()


def _as_number(value: object) -> float | None:
    # Subclasses count as their base type: the SDK keeps numpy's float64,
    # HTTPStatus and StrEnum members as they are.
    if isinstance(value, bool):
        return None  # True is not a latency
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and len(value) <= MAX_NUMERIC_TEXT:
        try:
            return float(value)
        except ValueError:
            return None
    # bytes, sequences, mappings, anything else.
    return None


def numeric_column(raw: Sequence[object]) -> NumericColumn:
    """Numbers from a column of raw values; NaN stays (the histogram counts it)."""
    if set(map(type, raw)) <= _PLAIN_NUMBERS:
        # Common case: every value already an int or float, one C-level conversion.
        try:
            return NumericColumn(np.array(raw, dtype=np.float64), None, 0, 0)
        except OverflowError:
            pass  # an int beyond float range; sort it out value by value below
    kept: list[float] = []
    positions: list[int] = []
    missing: list[int] = []
    invalid: list[int] = []
    for position, value in enumerate(raw):
        if value is None:
            missing.append(position)
            continue
        try:
            number = _as_number(value)
        except OverflowError:
            number = None
        if number is None:
            invalid.append(position)
        else:
            kept.append(number)
            positions.append(position)
    return NumericColumn(
        np.array(kept, dtype=np.float64),
        np.array(positions, dtype=np.intp),
        len(missing),
        len(invalid),
        tuple(invalid),
        tuple(missing),
    )


def label(value: object) -> str | None:
    """The category label of one value, or None when it cannot be one.

    >>> label(True), label(404), label(2.0), label(0.5), label("x" * 300)[-3:]
    ('true', '404', '2', '0.5', 'xxx')
    """
    # Subclasses are read as their base type (a StrEnum member is its text,
    # HTTPStatus.OK is "200", numpy's float64 a float), never by their repr.
    if isinstance(value, str):
        text = str.__str__(value)
        return text if len(text) <= MAX_LABEL_LENGTH else text[:MAX_LABEL_LENGTH]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(int(value))[:MAX_LABEL_LENGTH]
        except ValueError:
            return None  # more digits than Python converts to text (sys.get_int_max_str_digits)
    if isinstance(value, float):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))[:MAX_LABEL_LENGTH]
        return repr(number)
    return None


def category_column(raw: Sequence[object]) -> CategoryColumn:
    """Labels from a column of raw values (see :func:`label`)."""
    types = set(map(type, raw))
    if types == {str} and max(map(len, raw)) <= MAX_LABEL_LENGTH:  # type: ignore[arg-type]
        return CategoryColumn(list(raw), None, 0, 0)  # type: ignore[arg-type]
    if types == {int}:
        # Status codes and the like: one C-level conversion, as label() would make them.
        try:
            texts = list(map(str, raw))
        except ValueError:
            texts = []  # more digits than Python converts: value by value below
        if texts and max(map(len, texts)) <= MAX_LABEL_LENGTH:
            return CategoryColumn(texts, None, 0, 0)
    kept: list[str] = []
    positions: list[int] = []
    missing: list[int] = []
    invalid: list[int] = []
    for position, value in enumerate(raw):
        if value is None:
            missing.append(position)
            continue
        text = label(value)
        if text is None:
            invalid.append(position)
        else:
            kept.append(text)
            positions.append(position)
    return CategoryColumn(
        kept, positions, len(missing), len(invalid), tuple(invalid), tuple(missing)
    )


def status_class(value: object) -> object:
    """``500`` -> ``"5xx"``; anything that is not a status code passes through.

    >>> status_class(503), status_class("404"), status_class(None), status_class(True)
    ('5xx', '4xx', None, True)
    """
    # Length first: isdigit() on a 10 MB string holds the GIL for milliseconds.
    if isinstance(value, str) and len(value) == 3 and value.isdigit():
        return value[0] + "xx"
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 999:
        return f"{value // 100}xx"
    return value
