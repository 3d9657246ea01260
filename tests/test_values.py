"""Category labels: the whole-column fast paths give what label() gives value by value."""

from __future__ import annotations

import sys

import pytest

from otel_drift._internal.values import MAX_LABEL_LENGTH, category_column, label


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
