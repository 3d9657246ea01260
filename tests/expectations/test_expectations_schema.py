"""schema.json is valid 2020-12 and matches the model; our validator agrees with jsonschema."""

from __future__ import annotations

import copy
import json
import re
import typing
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_drift._internal.detectors import METHODS
from otel_drift._internal.expectations import model
from otel_drift._internal.expectations.errors import ProblemList
from otel_drift._internal.expectations.schema import load_schema
from otel_drift._internal.expectations.validator import SchemaValidator

SCHEMA = load_schema()
OURS = SchemaValidator(SCHEMA)
THEIRS = jsonschema.Draft202012Validator(SCHEMA)

GOOD: list[dict[str, Any]] = [
    {
        "version": 1,
        "defaults": {
            "window": {"spans": 500, "seconds": 30},
            "min_samples": 50,
            "hysteresis": {"raise_after": 2, "clear_after": 3},
        },
        "expectations": [
            {
                "name": "checkout",
                "description": "the checkout endpoint",
                "match": {
                    "span_name": "POST /checkout",
                    "span_kind": "server",
                    "scope": {"regex": "^opentelemetry"},
                    "attributes": {"http.route": "/checkout", "retry": 0, "ok": True},
                    "attribute_regex": {"url.path": "^/api"},
                },
                "window": {"seconds": 10.5},
                "min_samples": 100,
                "watch": {
                    "latency": {
                        "source": "span.duration",
                        "unit": "ms",
                        "baseline": {
                            "bins": [0, 10, 25, 50],
                            "fractions": [0.5, 0.3, 0.2],
                            "mean": 12.0,
                            "std": 9.5,
                            "samples": 1000,
                        },
                        "method": "cusum",
                        "warning": 4,
                        "critical": 6,
                        "cusum_k": 0.5,
                        "constraints": {"min": 0, "max": 60000, "required": True},
                    },
                    "status": {
                        "source": "span.status",
                        "baseline": {"categories": {"OK": 0.99, "ERROR": 0.01}, "samples": 10},
                    },
                    "tokens": {
                        "attribute": ["llm.usage.total_tokens", "llm.tokens"],
                        "baseline": {"quantiles": {"0": 1, "0.5": 200, "1": 4000}},
                        "method": "ks",
                        "warning": 0.05,
                        "critical": 0.01,
                    },
                    "class": {
                        "source": "http.status_class",
                        "constraints": {"allowed": ["2xx", "3xx", 4, False], "type": "string"},
                    },
                },
            },
            {"name": "all", "match": {}, "watch": {"v": {"attribute": "x", "constraints": {}}}},
        ],
    },
    {
        "version": 1,
        "expectations": [
            {
                "name": "a.b-c_d",
                "match": {"span_name": {"regex": "."}},
                "watch": {
                    "w": {
                        "source": "attribute",
                        "attribute": "k",
                        "baseline": {"categories": {"x": 1}},
                    }
                },
            }
        ],
    },
]

# Hand-written invalid documents, one keyword each.
BAD: list[Any] = [
    [],
    "version: 1",
    None,
    {},
    {"version": 1},
    {"version": 2, "expectations": GOOD[1]["expectations"]},
    {"version": True, "expectations": GOOD[1]["expectations"]},
    {"version": 1, "expectations": []},
    {"version": 1, "expectations": GOOD[1]["expectations"], "other": 1},
]

# Values a mutation may put anywhere.
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    0.5,
    1.0,
    2,
    1.5,
    1e9,
    "",
    "x",
    "server",
    "span.duration",
    "psi",
    "1abc",
    "ok\n",
    [],
    [1],
    [0, 1],
    ["a"],
    {},
    {"a": 1},
    {"regex": "x"},
    {"spans": 1},
    {"bins": [0, 1], "fractions": [1]},
    {"categories": {"a": 1}},
    {"quantiles": {"0": 1, "1": 2}},
]
KEYS = ["name", "match", "watch", "extra", "bins", "regex", "min", "spans", "1", "a b", "source"]


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _containers(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _containers(item, (*path, index))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(GOOD)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _containers(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if action == "replace":
                document = copy.deepcopy(draw(st.sampled_from(VALUES)))
            continue
        parent = _at(document, path[:-1])
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(VALUES)))
        elif action == "delete":
            del parent[path[-1]]
        else:
            target = _at(document, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(KEYS))] = copy.deepcopy(draw(st.sampled_from(VALUES)))
            elif isinstance(target, list):
                target.append(copy.deepcopy(draw(st.sampled_from(VALUES))))
    return document


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def _properties(schema: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every (path, subschema) under a "properties" keyword, anywhere in the schema."""
    found: list[tuple[str, Any]] = []
    if isinstance(schema, dict):
        for key, sub in schema.get("properties", {}).items():
            found.append((f"{where}.{key}", sub))
        for key, sub in schema.items():
            if isinstance(sub, dict | list):
                found += _properties(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, sub in enumerate(schema):
            found += _properties(sub, f"{where}[{index}]")
    return found


def test_every_field_is_documented() -> None:
    for where, sub in _properties(SCHEMA):
        documented = sub
        if "$ref" in sub and "description" not in sub:
            documented = SCHEMA["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
        assert documented.get("description"), f"{where} has no description"


def test_schema_enums_match_the_model() -> None:
    defs = SCHEMA["$defs"]
    watch = defs["watch"]["properties"]
    assert set(watch["source"]["enum"]) == set(typing.get_args(model.SourceKind))
    assert set(watch["unit"]["enum"]) == set(typing.get_args(model.DurationUnit))
    span_kind = defs["match"]["properties"]["span_kind"]["enum"]
    assert set(span_kind) == set(typing.get_args(model.SpanKindName))
    constraint_type = model.Constraints.__annotations__["type"]
    for name in defs["constraints"]["properties"]["type"]["enum"]:
        assert repr(name) in str(constraint_type)


#: schema.json is a static published file; a detector registered in
#: detectors.METHODS must be described there by hand.
SCHEMA_FIX = "edit $defs.watch.properties.{} in otel_drift/_internal/expectations/schema.json"


def _methods_named(text: str) -> list[str]:
    return [word for word in re.findall(r"[a-z_]+", text) if word in METHODS]


def test_schema_method_enum_is_the_registry() -> None:
    enum = SCHEMA["$defs"]["watch"]["properties"]["method"]["enum"]
    assert enum == list(METHODS), (
        f"{SCHEMA_FIX.format('method.enum')}: list {list(METHODS)} (detectors.METHODS, in order)"
    )


def test_schema_method_description_sorts_the_registry_by_kind() -> None:
    text = SCHEMA["$defs"]["watch"]["properties"]["method"]["description"]
    both, numeric_only = text.split("(numeric or categorical)")
    numeric_only = numeric_only.split("(numeric only)")[0]
    fix = SCHEMA_FIX.format("method.description")
    assert set(_methods_named(both)) == {n for n, m in METHODS.items() if m.categorical}, (
        f"{fix}: name every method with categorical=True before '(numeric or categorical)'"
    )
    assert set(_methods_named(numeric_only)) == {
        n for n, m in METHODS.items() if not m.categorical
    }, f"{fix}: name every numeric-only method before '(numeric only)'"
    default = (
        f"Default: {model.DEFAULT_NUMERIC_METHOD} for numeric values, "
        f"{model.DEFAULT_CATEGORICAL_METHOD} for categorical ones."
    )
    assert text.endswith(default), f"{fix}: end it with {default!r}"


def test_schema_threshold_descriptions_sort_the_registry_by_threshold_kind() -> None:
    watch = SCHEMA["$defs"]["watch"]["properties"]
    # warning lists the methods in parentheses: distances, significance levels, CUSUM.
    listed = re.findall(r"\(([^)]*)\)", watch["warning"]["description"])
    assert len(listed) == 3, SCHEMA_FIX.format("warning.description")
    for kind, text in zip(("distance", "alpha", "h"), listed, strict=True):
        assert set(_methods_named(text)) == {
            n for n, m in METHODS.items() if m.threshold_kind == kind
        }, f"{SCHEMA_FIX.format('warning.description')}: list every {kind!r} method in {text!r}"
    (alpha,) = re.findall(r"\(([^)]*)\)", watch["critical"]["description"])
    assert set(_methods_named(alpha)) == {
        n for n, m in METHODS.items() if m.threshold_kind == "alpha"
    }, f"{SCHEMA_FIX.format('critical.description')}: list every 'alpha' method in {alpha!r}"


def test_validator_refuses_keywords_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="not supported"):
        SchemaValidator({"type": "object", "propertyNames": {"pattern": "^a"}})
    with pytest.raises(ValueError, match="ref"):
        SchemaValidator({"$ref": "#/$defs/missing"})


@pytest.mark.parametrize("document", GOOD)
def test_good_documents_are_valid_for_both(document: Any) -> None:
    assert THEIRS.is_valid(document)
    assert OURS.issues(document) == []


@pytest.mark.parametrize("document", BAD)
def test_bad_documents_are_invalid_for_both(document: Any) -> None:
    assert not THEIRS.is_valid(document)
    assert OURS.issues(document)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_validator_agrees_with_jsonschema_on_mutations(document: Any) -> None:
    issues = OURS.issues(document)
    assert (not issues) == THEIRS.is_valid(document), json.dumps(document)
    for issue in issues:
        assert issue.message.endswith(".")
        assert issue.fix and issue.fix.endswith((".", "?")), issue
    problems = ProblemList()
    OURS.validate(document, problems)
    assert bool(problems) == bool(issues)
