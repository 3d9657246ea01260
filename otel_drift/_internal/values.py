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

Whole arrays (a reference file's columns, read by ``otel-drift baseline``)
get the same labels from :func:`labels_of`, with numpy's column operations:

>>> labels_of(np.array([200.0, 0.5, np.nan])).tolist(), labels_of(np.array([True])).tolist()
(['200', '0.5', 'nan'], ['true'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

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


#: Floats at or beyond this size are labelled value by value: int64 cannot hold them.
_INT64_LIMIT = 2.0**63


def labels_of(values: ArrayLike | Sequence[object]) -> NDArray[np.object_]:
    """:func:`label` of each value of a whole column (numpy array, pandas Series, list).

    An object array of the labels, None where :func:`label` gives None (None,
    bytes, dates, ...). Bools, ints, floats and strings are labelled with
    column operations; only object columns (mixed Python values) go value by
    value. NaN is labelled ``"nan"`` as :func:`label` does: a reader that
    means NaN as missing drops it first.

    >>> labels_of(np.array([3, -1])).tolist(), labels_of(np.array([1e300, 2.5e-7])).tolist()[1]
    (['3', '-1'], '2.5e-07')
    >>> labels_of(np.array(["paris", None, True, 2.0], dtype=object)).tolist()
    ['paris', None, 'true', '2']
    """
    if isinstance(values, list | tuple):
        # Not np.asarray: it would make [True, 1] two ints and [1, "a"] two strings.
        return _object_labels(values)
    array = np.asarray(values)
    if array.ndim != 1:
        array = array.reshape(-1)
    kind = array.dtype.kind
    if kind == "b":
        return _BOOL_LABELS[array.astype(np.intp)]
    if kind in "iuf":
        if array.size > _FEW_DISTINCT:
            # Categories repeat: label each distinct value once.
            distinct, inverse = np.unique(array, return_inverse=True)
            if distinct.size <= array.size // 4:
                return _number_labels(distinct)[inverse.reshape(-1)]
        return _number_labels(array)
    if kind == "U":
        labels = array.astype(object)
        if array.dtype.itemsize // 4 > MAX_LABEL_LENGTH:
            long = np.char.str_len(array) > MAX_LABEL_LENGTH
            labels[long] = [text[:MAX_LABEL_LENGTH] for text in labels[long]]
        return labels
    # Python values (numpy scalars in an object array stay as they are).
    return _object_labels(array.tolist())


def _object_labels(items: Sequence[object]) -> NDArray[np.object_]:
    labels = np.empty(len(items), dtype=object)
    if items and set(map(type, items)) == {str} and max(map(len, items)) <= MAX_LABEL_LENGTH:  # type: ignore[arg-type]
        labels[:] = items  # text already: its own label
    else:
        labels[:] = [label(item) for item in items]
    return labels


_BOOL_LABELS = np.array(["false", "true"], dtype=object)
#: Columns longer than this are labelled per distinct value when values repeat.
_FEW_DISTINCT = 64


def _number_labels(array: NDArray[Any]) -> NDArray[np.object_]:
    if array.dtype.kind in "iu":
        return array.astype(str).astype(object)
    # numpy writes floats as Python's repr does (shortest round-trip digits);
    # whole numbers lose their ".0" through int64, as label() does through int.
    numbers = array.astype(np.float64, copy=False)
    finite = np.isfinite(numbers)
    safe = np.where(finite, numbers, 0.0)
    whole = finite & (np.floor(safe) == safe)
    small = np.abs(safe) < _INT64_LIMIT
    as_int = whole & small
    labels = np.empty(numbers.size, dtype=object)
    labels[as_int] = safe[as_int].astype(np.int64).astype(str)
    labels[~whole] = numbers[~whole].astype(str)
    for position in np.flatnonzero(whole & ~small):
        labels[position] = label(float(numbers[position]))
    return labels


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
