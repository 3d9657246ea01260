"""A small interpreter for the part of JSON Schema (draft 2020-12) that schema.json uses.

The ``jsonschema`` package would do, but it is a heavy dependency for a
telemetry add-on and its messages are written for schema authors. This one
knows only the keywords listed in ``KEYWORDS`` (the tests check it agrees
with ``jsonschema`` on valid/invalid), refuses a schema using any other, and
words every failure for the person editing the file, with a fix taken from
the failing field's ``description``.
"""

from __future__ import annotations

import difflib
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otel_drift._internal.expectations.errors import PathParts, ProblemList

Schema = Mapping[str, Any]

#: Keywords that constrain the instance.
KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "enum",
        "const",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "items",
        "pattern",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "oneOf",
        "anyOf",
        "allOf",
    }
)
#: Keywords that only document.
ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"}
)

# Past this many issues the document is hopeless; stop walking it (the
# report shows far fewer anyway).
_ISSUE_LIMIT = 200

_BOUNDS: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
    ("minimum", operator.ge, "at least"),
    ("exclusiveMinimum", operator.gt, "greater than"),
    ("maximum", operator.le, "at most"),
    ("exclusiveMaximum", operator.lt, "less than"),
)

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true/false",
    "null": "null",
}


@dataclass(frozen=True)
class Issue:
    """One keyword failure, before it becomes a :class:`Problem`."""

    path: PathParts
    message: str
    fix: str


def is_type(name: str, value: object) -> bool:
    """JSON Schema's type test: booleans are not numbers, 2.0 is an integer."""
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "number":
        return isinstance(value, int | float)
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise ValueError(f"unknown JSON Schema type {name!r}")


def json_equal(a: object, b: object) -> bool:
    """Equality as JSON Schema defines it for enum/const (true is not 1, 1.0 is 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return False
    # Plain Python equality already says 1 == 1.0 and "1" != 1.
    return a == b


def describe(value: object) -> str:
    """What a value is, for "got ..." in a message."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({str(value)[:40]})"


def _shown(value: object) -> str:
    return json.dumps(value) if isinstance(value, str | int | float | bool) else str(value)


def _sentence(description: str) -> str:
    """The first sentence of a description, to go inside parentheses."""
    first = description.split(". ", 1)[0].rstrip(".")
    if len(first) > 1 and first[0].isupper() and first[1].islower():
        first = first[0].lower() + first[1:]
    return first


def _one_of_words(words: Sequence[str]) -> str:
    if len(words) <= 2:
        return " or ".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


class SchemaValidator:
    """Checks documents against a schema using only :data:`KEYWORDS`."""

    def __init__(self, schema: Schema) -> None:
        self._root = schema
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._prepare(schema)

    # -- public -------------------------------------------------------------

    def issues(self, instance: object) -> list[Issue]:
        out: list[Issue] = []
        self._check(self._root, instance, (), self._root.get("description"), out)
        return out

    def is_valid(self, instance: object) -> bool:
        return not self.issues(instance)

    def validate(self, instance: object, problems: ProblemList) -> None:
        for issue in self.issues(instance):
            problems.add(issue.path, issue.message, issue.fix)
            if problems.full:
                return

    # -- schema handling ----------------------------------------------------

    def _prepare(self, schema: object) -> None:
        """Refuse keywords this interpreter does not know; compile the patterns."""
        if isinstance(schema, list):
            for item in schema:
                self._prepare(item)
            return
        if not isinstance(schema, dict):
            return
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        if unknown:
            raise ValueError(f"schema keyword(s) not supported: {sorted(unknown)}")
        for pattern in [schema.get("pattern"), *schema.get("patternProperties", {})]:
            if isinstance(pattern, str):
                self._patterns[pattern] = re.compile(pattern)
        if "$ref" in schema:
            self._resolve(schema["$ref"])
        for key, value in schema.items():
            if key in {"properties", "patternProperties", "$defs"}:
                for sub in value.values():
                    self._prepare(sub)
            elif key in {"items", "additionalProperties", "oneOf", "anyOf", "allOf"}:
                self._prepare(value)

    def _resolve(self, ref: str) -> Schema:
        if ref == "#":
            return self._root
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix) :] not in self._root.get("$defs", {}):
            raise ValueError(f"unsupported or dangling $ref {ref!r}")
        target: Schema = self._root["$defs"][ref[len(prefix) :]]
        return target

    def _description(self, schema: Schema) -> str | None:
        if "description" in schema:
            text: str = schema["description"]
            return text
        if "$ref" in schema:
            return self._description(self._resolve(schema["$ref"]))
        return None

    # -- checking -----------------------------------------------------------

    def _check(
        self, schema: Schema, value: object, path: PathParts, desc: str | None, out: list[Issue]
    ) -> None:
        # ``desc`` is the description of this location, chosen by the caller:
        # the referencing property's own text wins over the referenced one's.
        if "$ref" in schema:
            self._check(self._resolve(schema["$ref"]), value, path, desc, out)
        if "type" in schema and not self._type_fits(schema, value):
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            words = [_TYPE_NAMES[t] for t in types]
            self._type_issue(path, value, words, desc, out)
            return
        if "const" in schema and not json_equal(value, schema["const"]):
            shown = _shown(schema["const"])
            self._add(out, path, f"must be {shown}, got {describe(value)}.", f"write {shown}", desc)
        if "enum" in schema and not any(json_equal(value, v) for v in schema["enum"]):
            self._enum_issue(path, value, schema["enum"], desc, out)
        if isinstance(value, int | float) and not isinstance(value, bool):
            self._check_number(schema, value, path, desc, out)
        elif isinstance(value, str):
            self._check_string(schema, value, path, desc, out)
        elif isinstance(value, list):
            self._check_array(schema, value, path, desc, out)
        elif isinstance(value, dict):
            self._check_object(schema, value, path, desc, out)
        for sub in schema.get("allOf", ()):
            self._check(sub, value, path, sub.get("description", desc), out)
        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                self._check_alternatives(keyword, schema[keyword], value, path, desc=desc, out=out)

    def _type_fits(self, schema: Schema, value: object) -> bool:
        if "$ref" in schema and not self._type_fits(self._resolve(schema["$ref"]), value):
            return False
        if "type" not in schema:
            return True
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return any(is_type(t, value) for t in types)

    def _check_number(
        self, schema: Schema, value: float, path: PathParts, desc: str | None, out: list[Issue]
    ) -> None:
        for keyword, holds, words in _BOUNDS:
            if keyword in schema and not holds(value, schema[keyword]):
                bound = schema[keyword]
                message = f"must be {words} {bound}, got {value!r}."
                self._add(out, path, message, f"use a value {words} {bound}", desc)

    def _check_string(
        self, schema: Schema, value: str, path: PathParts, desc: str | None, out: list[Issue]
    ) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            n = schema["minLength"]
            message = "must not be empty." if n == 1 else f"needs at least {n} characters."
            self._add(out, path, message, "write a longer value", desc)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            n = schema["maxLength"]
            self._add(out, path, f"has more than {n} characters.", "shorten it", desc)
        if "pattern" in schema and not self._patterns[schema["pattern"]].search(value):
            message = f"{describe(value)} does not match the pattern {schema['pattern']}."
            self._add(out, path, message, "change it", desc)

    def _check_array(
        self, schema: Schema, value: list[Any], path: PathParts, desc: str | None, out: list[Issue]
    ) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            n = schema["minItems"]
            message = f"needs at least {n} item{'s' if n > 1 else ''}, got {len(value)}."
            self._add(out, path, message, f"list at least {n}", desc)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            n = schema["maxItems"]
            message = f"has {len(value)} items, more than the {n} allowed."
            self._add(out, path, message, f"list at most {n}", desc)
        if "items" in schema:
            items = schema["items"]
            item_desc = self._description(items) or desc
            for index, item in enumerate(value):
                if len(out) > _ISSUE_LIMIT:
                    return
                self._check(items, item, (*path, index), item_desc, out)

    def _check_object(
        self,
        schema: Schema,
        value: dict[str, Any],
        path: PathParts,
        desc: str | None,
        out: list[Issue],
    ) -> None:
        properties: Mapping[str, Schema] = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                sub = properties.get(key)
                sub_desc = self._description(sub) if sub is not None else None
                self._add(out, (*path, key), "is required but missing.", f"add {key}", sub_desc)
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            n = schema["minProperties"]
            message = f"needs at least {n} entr{'ies' if n > 1 else 'y'}, got {len(value)}."
            self._add(out, path, message, f"give at least {n}", desc)
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            n = schema["maxProperties"]
            message = f"has {len(value)} entries, more than the {n} allowed."
            self._add(out, path, message, f"give at most {n}", desc)
        patterns: Mapping[str, Schema] = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if len(out) > _ISSUE_LIMIT:
                return
            item_path = (*path, key)
            known = False
            if key in properties:
                known = True
                sub = properties[key]
                self._check(sub, item, item_path, self._description(sub), out)
            for pattern, sub in patterns.items():
                if self._patterns[pattern].search(key):
                    known = True
                    self._check(sub, item, item_path, self._description(sub) or desc, out)
            if known:
                continue
            if extra is False:
                self._unknown_key(item_path, properties, patterns, desc, out)
            elif isinstance(extra, dict):
                self._check(extra, item, item_path, self._description(extra) or desc, out)

    def _check_alternatives(
        self,
        keyword: str,
        branches: Sequence[Schema],
        value: object,
        path: PathParts,
        *,
        desc: str | None,
        out: list[Issue],
    ) -> None:
        results: list[list[Issue]] = []
        for branch in branches:
            found: list[Issue] = []
            self._check(branch, value, path, desc, found)
            results.append(found)
        passing = sum(1 for found in results if not found)
        if passing == 1 or (passing > 1 and keyword == "anyOf"):
            return
        if passing > 1:
            message = "matches more than one of the allowed forms."
            self._add(out, path, message, "keep the keys of one form only", desc)
            return
        required = [self._required(b) for b in branches]
        if all(set(b) <= {"required"} for b in branches):
            keys = [" and ".join(r) for r in required]
            action = _sentence(desc) if desc else "add one"
            self._add(out, path, f"needs {_one_of_words(keys)}.", action, None)
            return
        # Explain the failure of the branch the author most likely meant:
        # one whose type fits and that has the most of its required keys.
        candidates = [i for i, b in enumerate(branches) if self._type_fits(b, value)]
        if not candidates:
            words = [w for b in branches for w in self._type_words(b)]
            self._type_issue(path, value, list(dict.fromkeys(words)), desc, out)
            return
        present = set(value) if isinstance(value, dict) else set()
        scores = {i: len(present & set(required[i])) for i in candidates}
        best = max(scores.values())
        if len(candidates) > 1 and best == 0:
            forms = [" and ".join(required[i]) for i in candidates if required[i]]
            message = f"must contain {_one_of_words(forms)}."
            self._add(out, path, message, "give one of these forms", desc)
            return
        chosen = next(i for i in candidates if scores[i] == best)
        out.extend(results[chosen])

    def _required(self, schema: Schema) -> list[str]:
        if "$ref" in schema:
            return self._required(self._resolve(schema["$ref"]))
        return list(schema.get("required", ()))

    def _type_words(self, schema: Schema) -> list[str]:
        if "$ref" in schema:
            return self._type_words(self._resolve(schema["$ref"]))
        types = schema.get("type", [])
        types = types if isinstance(types, list) else [types]
        words = [_TYPE_NAMES[t] for t in types]
        if schema.get("type") == "array" and "items" in schema:
            inner = self._type_words(schema["items"])
            if len(inner) == 1:
                words = [f"a list of {inner[0][inner[0].index(' ') + 1 :]}s"]
        return words

    # -- wording ------------------------------------------------------------

    def _type_issue(
        self,
        path: PathParts,
        value: object,
        words: list[str],
        desc: str | None,
        out: list[Issue],
    ) -> None:
        expected = _one_of_words(words)
        action = f"write {expected}"
        if isinstance(value, str) and {"a number", "an integer"} & set(words):
            try:
                float(value)
            except ValueError:
                pass
            else:
                action = f"remove the quotes around {value}"
        self._add(out, path, f"must be {expected}, got {describe(value)}.", action, desc)

    def _enum_issue(
        self,
        path: PathParts,
        value: object,
        allowed: Sequence[object],
        desc: str | None,
        out: list[Issue],
    ) -> None:
        names = [_shown(v) if not isinstance(v, str) else v for v in allowed]
        message = f"must be one of {', '.join(names)}; got {describe(value)}."
        close = difflib.get_close_matches(str(value), names, n=1) if isinstance(value, str) else []
        action = f"use {close[0]}" if close else "use one of these values"
        self._add(out, path, message, action, desc)

    def _unknown_key(
        self,
        path: PathParts,
        properties: Iterable[str],
        patterns: Iterable[str],
        desc: str | None,
        out: list[Issue],
    ) -> None:
        known = list(properties)
        pattern_list = list(patterns)
        key = str(path[-1])
        if pattern_list and not known:
            message = f"is not a valid key here: keys must match {' or '.join(pattern_list)}."
            self._add(out, path, message, "rename it", desc)
            return
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}? Otherwise " if close else ""
        action = f"{hint}remove it or correct the spelling; known keys here: {', '.join(known)}"
        self._add(out, path, "is not a known key here.", action, None)

    @staticmethod
    def _add(
        out: list[Issue], path: PathParts, message: str, action: str, desc: str | None
    ) -> None:
        if not path:
            message = "the document " + message
        fix = f"{action} ({_sentence(desc)})" if desc else action
        if not fix.endswith((".", "?")):
            fix += "."
        out.append(Issue(path, message, fix))
