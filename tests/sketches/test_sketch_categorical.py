"""Tests for CategoryCounter: counts, cap and "other" bucket, merge, aligned()."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_drift._internal.sketches import CategoryCounter


def _state(c: CategoryCounter) -> tuple[dict[str, int], int, int]:
    return c.counts, c.other, c.total


def test_counts_and_known_start_at_zero() -> None:
    c = CategoryCounter(10, known=["a", "b", "a"])
    assert c.known == ("a", "b")
    assert c.counts == {"a": 0, "b": 0}
    c.update(["a", "c", "a", "c", "d"])
    assert _state(c) == ({"a": 2, "b": 0, "c": 2, "d": 1}, 0, 5)
    assert c.overflowed_values == 0


def test_empty_batch_and_str_batch() -> None:
    c = CategoryCounter(3)
    c.update([])
    assert _state(c) == ({}, 0, 0)
    with pytest.raises(TypeError):
        c.update("abc")


def test_negative_cap_rejected() -> None:
    with pytest.raises(ValueError):
        CategoryCounter(-1)


def test_cap_admits_by_first_appearance_then_folds() -> None:
    c = CategoryCounter(3, known=["k"])
    c.update(["x", "y", "x", "z", "y", "k"])
    # slots: k (known), x, y; z arrives after the cap is reached.
    assert _state(c) == ({"k": 1, "x": 2, "y": 2}, 1, 6)
    c.update(["z", "w", "x", "k"])
    assert _state(c) == ({"k": 2, "x": 3, "y": 2}, 3, 10)
    assert c.overflowed_values == 3


def test_known_always_tracked_even_beyond_cap() -> None:
    c = CategoryCounter(1, known=["a", "b", "c"])
    c.update(["c", "new", "b"])
    assert _state(c) == ({"a": 0, "b": 1, "c": 1}, 1, 3)


def test_zero_cap_tracks_only_known() -> None:
    c = CategoryCounter(0, known=["a"])
    c.update(["a", "b", "b"])
    assert _state(c) == ({"a": 1}, 2, 3)


def test_memory_bound_with_100k_distinct_values() -> None:
    values = [f"user-{i}" for i in range(100_000)]
    c = CategoryCounter(1000)
    c.update(values[:30_000])
    c.update(values[30_000:] + values[:10])
    counts = c.counts
    assert len(counts) == 1000
    assert set(counts) == set(values[:1000])  # first appearances won the slots
    assert counts["user-0"] == 2
    assert c.other == 99_000
    assert c.total == 100_010
    assert sum(counts.values()) + c.other == c.total


def test_counts_is_a_copy() -> None:
    c = CategoryCounter(5)
    c.update(["a"])
    c.counts["a"] = 99
    assert c.counts == {"a": 1}


def test_aligned_orders_and_puts_the_rest_last() -> None:
    c = CategoryCounter(2, known=["a"])
    c.update(["a", "b", "c", "c", "a", "a"])  # tracked a, b; "c" x2 folded
    np.testing.assert_array_equal(c.aligned(["b", "a"]), [1.0, 3.0, 2.0])
    # Unlisted tracked "b" joins the remainder; an unseen category reads 0.
    np.testing.assert_array_equal(c.aligned(["a", "zz"]), [3.0, 0.0, 3.0])
    np.testing.assert_array_equal(c.aligned([]), [6.0])
    assert c.aligned(["a"]).dtype == np.float64
    with pytest.raises(ValueError):
        c.aligned(["a", "a"])


def test_merge_without_overflow_equals_concatenation() -> None:
    a_vals, b_vals = ["x", "y", "x"], ["z", "x", "w", "z"]
    a, b, ab = CategoryCounter(10, ["k"]), CategoryCounter(10, ["k"]), CategoryCounter(10, ["k"])
    a.update(a_vals)
    b.update(b_vals)
    ab.update(a_vals + b_vals)
    a.merge(b)
    assert _state(a) == _state(ab)
    assert list(a.counts) == list(ab.counts)  # same admission order too


def test_merge_respects_cap() -> None:
    a, b, ab = CategoryCounter(3), CategoryCounter(3), CategoryCounter(3)
    a.update(["p", "q"])
    b.update(["r", "s", "s", "p"])
    ab.update(["p", "q", "r", "s", "s", "p"])
    a.merge(b)
    assert _state(a) == ({"p": 2, "q": 1, "r": 1}, 2, 6)
    assert _state(a) == _state(ab)


def test_merge_cannot_recover_values_folded_by_the_other_side() -> None:
    # Documented limit: b folded "x" before knowing a tracks it.
    a, b = CategoryCounter(1), CategoryCounter(1)
    a.update(["x"])
    b.update(["y", "x"])
    a.merge(b)
    assert _state(a) == ({"x": 1}, 2, 3)


def test_merge_config_mismatch() -> None:
    with pytest.raises(ValueError):
        CategoryCounter(3).merge(CategoryCounter(4))
    with pytest.raises(ValueError):
        CategoryCounter(3, ["a"]).merge(CategoryCounter(3, ["b"]))
    CategoryCounter(3, ["a", "b"]).merge(CategoryCounter(3, ["b", "a"]))  # order irrelevant


def test_self_merge_doubles() -> None:
    c = CategoryCounter(1)
    c.update(["a", "b"])
    c.merge(c)
    assert _state(c) == ({"a": 2}, 2, 4)


def test_copy_and_reset() -> None:
    c = CategoryCounter(2, known=["k"])
    c.update(["k", "n", "m"])
    d = c.copy()
    c.reset()
    assert _state(c) == ({"k": 0}, 0, 0)
    c.update(["m"])  # the slot freed by reset is available again
    assert c.counts == {"k": 0, "m": 1}
    assert _state(d) == ({"k": 1, "n": 1}, 1, 3)
    d.update(["k"])
    assert c.counts == {"k": 0, "m": 1}


_batch = st.lists(st.sampled_from("abcdef"), max_size=30)


@settings(max_examples=50, deadline=None)
@given(a=_batch, b=_batch, cap=st.integers(0, 8))
def test_merge_equals_concatenation_when_categories_known(
    a: list[str], b: list[str], cap: int
) -> None:
    known = ["a", "b", "c", "d", "e", "f"]
    ca, cb, cab = (
        CategoryCounter(cap, known),
        CategoryCounter(cap, known),
        CategoryCounter(cap, known),
    )
    ca.update(a)
    cb.update(b)
    cab.update(a + b)
    ca.merge(cb)
    assert _state(ca) == _state(cab)
    assert ca.counts == {k: Counter(a + b)[k] for k in known}


@settings(max_examples=50, deadline=None)
@given(a=_batch, b=_batch)
def test_merge_equals_concatenation_under_cap(a: list[str], b: list[str]) -> None:
    ca, cb, cab = CategoryCounter(6), CategoryCounter(6), CategoryCounter(6)
    ca.update(a)
    cb.update(b)
    cab.update(a + b)
    ca.merge(cb)
    assert _state(ca) == _state(cab)
    assert list(ca.counts) == list(cab.counts)
