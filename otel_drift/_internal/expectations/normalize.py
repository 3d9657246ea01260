"""Parsed YAML/JSON to JSON-shaped data: string keys, finite numbers, bounded size.

JSON Schema, the validator and the builder all assume JSON data. YAML gives
more: ``200:`` and ``0.5:`` are int and float keys, ``true:`` a bool key,
``.nan`` a float. Keys become strings here the way span attribute values are
turned into category labels (so a baseline key ``200`` matches the status
code 200); numbers that are not finite are reported.
"""

from __future__ import annotations

import json
import math
from typing import Any

from otel_drift._internal.expectations.errors import FileRefusedError, PathParts, ProblemList
from otel_drift._internal.expectations.parse import MAX_DEPTH, MAX_VALUES


def scalar_text(value: object) -> str:
    """The string a key or ``allowed`` value is compared as.

    Same rule as the category label of a span attribute value: booleans are
    ``true``/``false``, whole floats lose their ``.0``.

    >>> [scalar_text(v) for v in (True, 200, 2.0, 0.5, "x", None)]
    ['true', '200', '2', '0.5', 'x', 'null']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _key_text(key: object) -> str:
    # Quantile keys are probabilities: 0.5 stays "0.5", 1.0 becomes "1", both
    # parse back with float(); other keys follow scalar_text.
    return key if isinstance(key, str) else scalar_text(key)


class _Walk:
    def __init__(self, problems: ProblemList) -> None:
        self.problems = problems
        self.visits = 0

    def value(self, value: object, path: PathParts) -> object:
        self.visits += 1
        if self.visits > MAX_VALUES:
            raise FileRefusedError(
                f"the document has more than {MAX_VALUES:,} values.",
                "check that this is the expectations file; they have a few thousand at most.",
            )
        if len(path) > MAX_DEPTH:
            raise FileRefusedError(
                f"the document is nested more than {MAX_DEPTH} levels deep.",
                "an expectations file nests about 8 levels; check the brackets and indentation.",
            )
        if isinstance(value, dict):
            return self.mapping(value, path)
        if isinstance(value, list):
            return [self.value(item, (*path, index)) for index, item in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.add(
                path, f"must be a finite number, got {value!r}.", "write an ordinary number."
            )
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                float(value)
            except OverflowError:
                self.problems.add(
                    path,
                    f"is a number too large to use ({len(str(abs(value)))} digits).",
                    "write an ordinary number.",
                )
        return value

    def mapping(self, value: dict[Any, Any], path: PathParts) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, item in value.items():
            text = _key_text(key)
            if text in result:
                self.problems.add(
                    (*path, text),
                    f"two keys here are both read as {json.dumps(text)}.",
                    "keep only one of them.",
                )
            result[text] = self.value(item, (*path, text))
        return result


def normalize(data: object, problems: ProblemList) -> object:
    """``data`` with string keys everywhere; non-finite numbers go to ``problems``.

    Raises :class:`FileRefusedError` past :data:`MAX_VALUES` values or :data:`MAX_DEPTH` levels.
    """
    return _Walk(problems).value(data, ())
