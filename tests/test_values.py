"""Category labels: the whole-column fast paths give what label() gives value by value."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from otel_drift._internal.expectations.normalize import scalar_text
from otel_drift._internal.values import (
    MAX_LABEL_LENGTH,
    category_column,
    label,
    labels_of,
)


@pytest.mark.parametrize(
    "raw",
    [
        [200, 404, 500, 200],
        [-1, 0, 10**40],
        [10 ** (MAX_LABEL_LENGTH + 5)],  # longer than a label: cut as label() cuts it
    ],
)
def test_int_columns_label_as_label_does(raw: list[int]) -> None:
    column = category_column(raw)
    assert column.values == [label(value) for value in raw]
    assert (column.missing, column.invalid) == (0, 0)


def test_ints_too_long_for_text_are_invalid_not_an_error() -> None:
    if not hasattr(sys, "get_int_max_str_digits"):
        pytest.skip("no limit on int to text conversion in this Python")
    huge = 10 ** (sys.get_int_max_str_digits() + 1)
    column = category_column([200, huge])
    assert column.values == ["200"] and column.invalid == 1


def test_bools_are_not_read_as_ints() -> None:
    assert category_column([True, 1]).values == ["true", "1"]


LABEL_CASES = [
    np.array([True, False, True]),
    np.array([200, 404, -1, 0], dtype=np.int64),
    np.array([7, 9], dtype=np.uint8),
    np.array([200.0, 0.5, -0.0, np.nan, np.inf, -np.inf, 1e300, 2.0**63, 1e-7, 123456789.125]),
    np.array([2.0, 0.1, 3.5], dtype=np.float32),
    np.tile(np.array([200.0, 404.0, 500.0, np.nan]), 100),  # repeats: labelled per distinct value
    np.array(["paris", "x" * (MAX_LABEL_LENGTH + 20), ""]),
    # numpy scalars in an object array are no labels, as on a span (tests/hardening).
    np.array(["paris", None, True, 2.0, 7, b"raw", np.int64(3), np.bool_(True)], dtype=object),
    np.array(["lyon", "nice"], dtype=object),
]


@pytest.mark.parametrize("column", LABEL_CASES, ids=lambda c: str(c.dtype))
def test_labels_of_a_column_are_label_of_each_value(column: np.ndarray[Any, Any]) -> None:
    labels = labels_of(column).tolist()
    assert labels == [label(value) for value in column.tolist()]
    assert all(text is None or type(text) is str for text in labels)


def test_labels_of_pandas_series_and_lists() -> None:
    pandas = pytest.importorskip("pandas")
    series = pandas.Series([True, None, False], dtype="boolean")  # nullable: NA is no label
    assert labels_of(series).tolist() == ["true", None, "false"]
    assert labels_of(pandas.Series([200.0, 404.0])).tolist() == ["200", "404"]
    assert labels_of([True, 1, "a", 2.0]).tolist() == ["true", "1", "a", "2"]


@pytest.mark.parametrize("value", [True, False, 200, -3, 2.0, 0.5, 1e-7, "x", "200"])
def test_expectation_keys_are_compared_as_live_values_are_labelled(value: object) -> None:
    # The loader's key/allowed text (expectations/normalize.py) and label() must agree.
    assert scalar_text(value) == label(value)
