"""JSON shapes: fingerprints, expected shapes (paths and JSON Schema), diffs, the YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from otel_drift import ExpectationsError, loads_expectations
from otel_drift._internal.cli.main import main
from otel_drift._internal.engine.shape_watch import shape_labels
from otel_drift._internal.json_shape import (
    MAX_PATHS,
    REGISTRY,
    ExpectedShape,
    diff,
    fingerprint,
    shape_id,
)

V1 = {"id": 7, "name": "a", "tags": ["x"], "address": {"city": "Lyon"}}


def test_fingerprint_never_holds_values_and_is_bounded() -> None:
    shape = fingerprint(V1)
    assert shape == {
        "id": {"number"},
        "name": {"string"},
        "tags": {"array"},
        "tags[]": {"string"},
        "address": {"object"},
        "address.city": {"string"},
    }
    assert "Lyon" not in repr(shape)
    wide = fingerprint({f"k{i}": i for i in range(10 * MAX_PATHS)})
    assert len(wide) == MAX_PATHS
    deep: object = 1
    for _ in range(10_000):
        deep = {"a": deep}
    assert len(fingerprint(deep)) == 8  # depth-bounded, and no RecursionError


def test_ids_do_not_depend_on_key_order_or_values() -> None:
    assert shape_id(fingerprint({"a": 1, "b": "x"})) == shape_id(fingerprint({"b": "y", "a": 2.5}))
    assert shape_id(fingerprint({"a": 1})) != shape_id(fingerprint({"a": "1"}))


def test_diff_reports_missing_added_and_retyped_fields_once() -> None:
    expected = ExpectedShape.from_paths(
        {"id": "number", "name": "string", "address.city": "string", "tags[]": "string"},
        optional=["tags[]"],
    )
    assert not diff(expected, fingerprint(V1))
    renamed = diff(expected, fingerprint({**V1, "name": None} | {"full": {"x": 1}}))
    assert renamed.changed == ("name",)
    assert renamed.added == ("full",)  # not full.x: the top-most unknown path only
    assert diff(expected, fingerprint({"id": 1, "tags": [], "address": {}})).missing == (
        "address.city",
        "name",
    )


def test_schema_subset_required_and_open_objects() -> None:
    expected = ExpectedShape.from_schema(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": ["string", "null"]},
                "meta": {"type": "object", "additionalProperties": True},
            },
            "required": ["id"],
        }
    )
    assert not diff(expected, fingerprint({"id": 1.0, "name": None, "meta": {"any": 1}}))
    found = diff(expected, fingerprint({"name": 3, "extra": True}))
    assert (found.missing, found.added, found.changed) == (("id",), ("extra",), ("name",))


def test_worker_labels_and_violations() -> None:
    loaded = loads_expectations(
        """
version: 1
expectations:
  - name: up
    match: {span_kind: client}
    watch:
      shape: {source: json.shape, shape: {paths: {id: number}}}
"""
    )
    watch = loaded.expectations[0].watch[0]
    assert watch.baseline is not None and watch.method == "jensen_shannon"
    good = REGISTRY.remember(fingerprint({"id": 1}))
    bad = REGISTRY.remember(fingerprint({"id": "1", "x": 1}))
    labels, found = shape_labels(watch, [good, bad, None, "unknown00000"], 10)
    assert labels == ["expected", bad, None, "unknown00000"]
    assert found.counts == {"shape.added": 1, "shape.type": 1}
    assert found.positions == {"shape.added": [1], "shape.type": [1]}


@pytest.mark.parametrize(
    ("watch", "message"),
    [
        ("{source: json.shape, baseline: {categories: {expected: 1.0}}}", "is required with"),
        (
            "{attribute: x, shape: {paths: {id: number}}, constraints: {required: true}}",
            "applies only to source: json.shape",
        ),
        ("{source: json.shape, shape: {paths: {id: numbr}}}", "shape.paths.id"),
        ("{source: json.shape, shape: {paths: {id: number}, optional: [idd]}}", '"idd"'),
        ("{source: json.shape, shape: {}}", "shape"),
    ],
)
def test_invalid_shapes_are_explained(watch: str, message: str) -> None:
    text = f"""
version: 1
expectations:
  - name: up
    match: {{span_kind: client}}
    watch:
      shape: {watch}
"""
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text)
    assert message in str(caught.value)


def test_shape_command_records_a_watchable_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text('{"id": 1, "name": "a"}\n{"id": 2}\n')
    assert main(["shape", "--lines", str(bodies)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == {"shape": {"paths": {"id": "number", "name": "string"}, "optional": ["name"]}}
    watch = {"source": "json.shape", **printed}
    document = {"version": 1, "expectations": [{"name": "up", "match": {}, "watch": {"w": watch}}]}
    expected = loads_expectations(json.dumps(document)).expectations[0].watch[0].shape
    assert expected is not None and not diff(expected, fingerprint({"id": 3}))
