"""A ``source: json.shape`` watch, on the worker: shape ids -> category labels + violations.

The span carries only the shape's id (``drift.json.shape``, set by otel-drift's
HTTP wrappers); the shape itself is in :data:`json_shape.REGISTRY`. Each id is
compared with the watch's expected shape once and the verdict cached: a value
whose shape is as expected is labelled ``expected``, any other keeps its id,
so the mix of shapes is a categorical value like any other. Every missing,
added or retyped field counts one violation per value under its rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_drift._internal.engine.constraints import Violations
from otel_drift._internal.expectations.model import Watch
from otel_drift._internal.json_shape import EXPECTED_LABEL, REGISTRY, ExpectedShape, diff

#: Verdicts cached per (expected shape, id); cleared when full.
MAX_CACHED_VERDICTS = 4096

_verdicts: dict[tuple[int, str], tuple[str, tuple[str, ...]]] = {}


def verdict(expected: ExpectedShape, ident: str) -> tuple[str, tuple[str, ...]]:
    """(label, broken rules) of one shape id against an expected shape."""
    key = (id(expected), ident)
    found = _verdicts.get(key)
    if found is not None:
        return found
    shape = REGISTRY.recall(ident)
    if shape is None:
        # Not seen in this process (or forgotten): still counted in the mix.
        return ident, ()
    result = diff(expected, shape)
    found = (ident, result.rules()) if result else (EXPECTED_LABEL, ())
    if len(_verdicts) >= MAX_CACHED_VERDICTS:
        _verdicts.clear()
    _verdicts[key] = found
    return found


def shape_labels(
    watch: Watch, raw: Sequence[object], limit: int
) -> tuple[list[object], Violations]:
    """Labels for the categorical sketch, and the shape violations of the column."""
    expected = watch.shape
    found = Violations({}, {})
    if expected is None:
        return list(raw), found
    labels: list[object] = []
    for position, value in enumerate(raw):
        if type(value) is not str:
            labels.append(value)  # missing or invalid: counted as such downstream
            continue
        label, rules = verdict(expected, value)
        labels.append(label)
        for rule in rules:
            found.counts[rule] = found.counts.get(rule, 0) + 1
            positions = found.positions.setdefault(rule, [])
            if len(positions) < limit:
                positions.append(position)
    return labels, found


def merge(into: Violations, extra: Violations) -> Violations:
    if not extra:
        return into
    for rule, count in extra.counts.items():
        into.counts[rule] = into.counts.get(rule, 0) + count
        into.positions.setdefault(rule, []).extend(extra.positions.get(rule, []))
    return into
