"""The ``shape:`` of a ``source: json.shape`` watch: checks and the typed form.

Two ways to write it, both resolved to one :class:`ExpectedShape`:

- ``paths``: ``{path: type or [types]}`` as recorded from real traffic
  (``otel-drift shape response.json`` prints it), with ``optional`` paths that
  may be absent and ``open`` objects whose extra members are not reported;
- ``schema``: a JSON Schema subset (``type``, ``properties``, ``required``,
  ``items``, ``additionalProperties``); other keywords are ignored.

Paths join object members with ``.`` and array elements with ``[]``:
``items[].price``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from otel_drift._internal.expectations.errors import PathParts
from otel_drift._internal.json_shape import JSON_TYPES, ExpectedShape

#: Type names accepted in a shape: JSON's, plus JSON Schema's ``integer`` (read as number).
SHAPE_TYPES = (*JSON_TYPES, "integer")

Report = Callable[[PathParts, str, str], None]


def expected_shape(raw: Mapping[str, Any]) -> ExpectedShape:
    if "schema" in raw:
        return ExpectedShape.from_schema(raw["schema"])
    paths = {
        path: [_type(t) for t in ([types] if isinstance(types, str) else types)]
        for path, types in raw["paths"].items()
    }
    return ExpectedShape.from_paths(paths, raw.get("optional", ()), raw.get("open", ()))


def _type(name: str) -> str:
    return "number" if name == "integer" else name


def check_shape(raw: Mapping[str, Any], path: PathParts, report: Report) -> None:
    """Report what the schema cannot: unknown paths in optional/open, schema-subset types."""
    paths = raw.get("paths")
    if isinstance(paths, dict):
        known = set(paths)
        for key in ("optional", "open"):
            listed = raw.get(key)
            if not isinstance(listed, list):
                continue
            for position, name in enumerate(listed):
                root = key == "open" and name == ""
                if isinstance(name, str) and name not in known and not root:
                    report(
                        (*path, key, position),
                        f"{json.dumps(name)} is not one of the paths.",
                        f"list it under paths first, or remove it from {key}.",
                    )
    schema = raw.get("schema")
    if isinstance(schema, dict):
        _check_schema(schema, (*path, "schema"), report, 0)


def _check_schema(node: Mapping[str, Any], path: PathParts, report: Report, depth: int) -> None:
    if depth > 32:
        return
    given = node.get("type")
    names = [given] if isinstance(given, str) else given if isinstance(given, list) else []
    for name in names:
        if name not in SHAPE_TYPES:
            report(
                (*path, "type"),
                f"{json.dumps(name)} is not a JSON type.",
                f"use one of {', '.join(SHAPE_TYPES)}.",
            )
    properties = node.get("properties")
    if "properties" in node and not isinstance(properties, dict):
        report((*path, "properties"), "must be a mapping of member name -> schema.", "fix it.")
    elif isinstance(properties, dict):
        for name, child in properties.items():
            if isinstance(child, dict):
                _check_schema(child, (*path, "properties", name), report, depth + 1)
            else:
                report(
                    (*path, "properties", name),
                    "must be a schema (a mapping such as {type: string}).",
                    "write the member's schema as a mapping.",
                )
        required = node.get("required")
        if isinstance(required, list):
            for position, name in enumerate(required):
                if name not in properties:
                    report(
                        (*path, "required", position),
                        f"{json.dumps(name)} is not in properties.",
                        "add it to properties, or remove it from required.",
                    )
    items = node.get("items")
    if isinstance(items, dict):
        _check_schema(items, (*path, "items"), report, depth + 1)
