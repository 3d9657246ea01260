"""Decisions the semantic checks and the builder must make identically.

Both read the same raw (JSON-shaped) data: the checks to find what would be
wrong with the resolved watch, the builder to produce it. Keeping the rules
here means a watch is never checked as one kind and built as another.
Every function tolerates malformed input (the checks also run on documents
that failed the schema) and then returns None or a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from otel_drift._internal.detectors import METHODS
from otel_drift._internal.expectations.model import (
    DEFAULT_CATEGORICAL_METHOD,
    DEFAULT_NUMERIC_METHOD,
    ValueKind,
)

#: Sources whose kind of value is fixed: durations are numbers, statuses labels.
SOURCE_KINDS: Mapping[str, ValueKind] = {
    "span.duration": "numeric",
    "span.status": "categorical",
    "http.status_class": "categorical",
    # A shape id, labelled "expected" when it conforms: a mix of shapes.
    "json.shape": "categorical",
    # 1.0 where the feature is missing, 0.0 where present: a rate, always numeric.
    "ml.missing": "numeric",
}


def is_number(value: object) -> TypeGuard[float]:
    """A JSON number: int or float, not bool (True is not 1 in a file)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: object) -> TypeGuard[float]:
    """An integer as JSON Schema counts them (2.0 is one)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def as_mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def source_of(watch: Mapping[str, Any]) -> str | None:
    """The source kind: ``source`` when given, else ``attribute`` when an attribute is named,
    else ``ml.feature`` when a model feature is."""
    source = watch.get("source")
    if isinstance(source, str):
        return source
    if "attribute" in watch:
        return "attribute"
    return "ml.feature" if "feature" in watch else None


def baseline_kind(baseline: object) -> ValueKind | None:
    if not isinstance(baseline, dict):
        return None
    if "profile" in baseline:
        # A profile's kind is its slots' (when they agree: the profile checks say if not).
        kinds = {baseline_kind(slot) for slot in as_mapping(baseline.get("slots")).values()}
        kinds.discard(None)
        return kinds.pop() if len(kinds) == 1 else None
    if "bins" in baseline or "quantiles" in baseline:
        return "numeric"
    if "categories" in baseline:
        return "categorical"
    return None


def constraints_kind(constraints: object) -> ValueKind:
    """The kind a constraints-only watch has: numeric when it bounds or types numbers."""
    rules = as_mapping(constraints)
    if "min" in rules or "max" in rules or rules.get("type") in ("number", "integer"):
        return "numeric"
    return "categorical"


def value_kind(watch: Mapping[str, Any]) -> ValueKind:
    """Numeric or categorical: by the source if it decides, else the baseline, else constraints."""
    fixed = SOURCE_KINDS.get(source_of(watch) or "")
    if fixed is not None:
        return fixed
    return baseline_kind(watch.get("baseline")) or constraints_kind(watch.get("constraints"))


def method_of(watch: Mapping[str, Any], kind: ValueKind) -> str:
    method = watch.get("method")
    if isinstance(method, str) and method in METHODS:
        return method
    return DEFAULT_NUMERIC_METHOD if kind == "numeric" else DEFAULT_CATEGORICAL_METHOD


def effective(
    expectation: Mapping[str, Any], defaults: Mapping[str, Any], key: str
) -> tuple[Any, str | None]:
    """The value of ``key`` for an expectation and where it came from.

    Returns (value, "expectation" | "defaults" | None); a key given in the
    expectation replaces the default as a whole, it is not merged with it.
    """
    if key in expectation:
        return expectation[key], "expectation"
    if key in defaults:
        return defaults[key], "defaults"
    return None, None
