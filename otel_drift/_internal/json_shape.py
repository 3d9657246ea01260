"""JSON shapes: which key paths a document has and the JSON types found there, never values.

A shape maps a path to the set of JSON types seen at it. Object members are
joined with ``.``, array elements are ``[]`` (all elements share one path, so
a list of 10,000 items has the shape of its first :data:`MAX_ARRAY_ITEMS`)::

    {"id": 7, "tags": ["a"], "owner": {"name": null}}
    -> id: number, tags: array, tags[]: string, owner: object, owner.name: null

Ints and floats are both ``number`` (JSON has one number type, and ``1`` vs
``1.0`` is a serializer detail, not a schema change). Depth and size are
bounded, so a hostile body costs at most :data:`MAX_PATHS` entries.

A shape's *id* is a short hash of its canonical text: the category label in
which shapes are counted. :func:`remember`/:func:`recall` keep recently seen
shapes by id so the drift worker can compare a span's shape id with the
expected shape without it travelling as a big attribute.

>>> shape = fingerprint({"id": 7, "tags": ["a", 1], "owner": {"name": None}})
>>> canonical(shape)
'id:number;owner:object;owner.name:null;tags:array;tags[]:number|string'
>>> expected = ExpectedShape.from_paths({"id": "number", "name": "string"})
>>> d = diff(expected, fingerprint({"id": "7", "title": "x"}))
>>> d.missing, d.added, d.changed
(('name',), ('title',), ('id',))
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: The JSON types a path can have.
JSON_TYPES = ("object", "array", "string", "number", "boolean", "null")
#: Deeper members are not looked into (their container's type still counts).
MAX_DEPTH = 8
#: At most this many paths per shape; the rest of the document is ignored.
MAX_PATHS = 256
#: Elements of each array that are looked at.
MAX_ARRAY_ITEMS = 16
#: Paths listed per rule on a span (the counts are exact).
MAX_REPORTED_PATHS = 16

#: drift.rule values of shape violations.
RULE_MISSING = "shape.missing"
RULE_ADDED = "shape.added"
RULE_TYPE = "shape.type"
#: Category label of a value whose shape is as expected.
EXPECTED_LABEL = "expected"

Shape = Mapping[str, frozenset[str]]


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object" if isinstance(value, dict) else "string"


def fingerprint(
    document: object, *, max_depth: int = MAX_DEPTH, max_paths: int = MAX_PATHS
) -> Shape:
    """The shape of a parsed JSON document (``json.loads`` output)."""
    found: dict[str, set[str]] = {}
    # Iterative walk: a deeply nested body must not hit the recursion limit.
    stack: list[tuple[str, object, int]] = [("", document, 0)]
    while stack:
        path, value, depth = stack.pop()
        kind = json_type(value)
        if path:
            types = found.get(path)
            if types is None:
                if len(found) >= max_paths:
                    continue
                types = found[path] = set()
            types.add(kind)
        if depth >= max_depth:
            continue
        if kind == "object":
            assert isinstance(value, dict)
            for key, member in value.items():
                stack.append((f"{path}.{key}" if path else str(key), member, depth + 1))
        elif kind == "array":
            assert isinstance(value, list | tuple)
            for item in value[:MAX_ARRAY_ITEMS]:
                stack.append((f"{path}[]", item, depth + 1))
    return {path: frozenset(types) for path, types in found.items()}


def canonical(shape: Shape) -> str:
    return ";".join(f"{path}:{'|'.join(sorted(shape[path]))}" for path in sorted(shape))


def shape_id(shape: Shape) -> str:
    """A 12-hex-digit id of the shape, stable across processes and runs."""
    return hashlib.sha256(canonical(shape).encode("utf-8", "replace")).hexdigest()[:12]


def _parent(path: str) -> str:
    if path.endswith("[]"):
        return path[:-2]
    dot = path.rfind(".")
    return path[:dot] if dot > 0 else ""


def _same_types(expected: frozenset[str], actual: frozenset[str]) -> bool:
    return actual <= expected


@dataclass(frozen=True)
class ExpectedShape:
    """What a document should look like: path -> allowed JSON types.

    ``required`` paths must be present whenever their parent object is;
    ``open`` paths are objects whose unknown members are not reported as added
    (the root is ``""``).
    """

    paths: Mapping[str, frozenset[str]]
    required: frozenset[str]
    open: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_paths(
        cls,
        paths: Mapping[str, str | Iterable[str]],
        optional: Iterable[str] = (),
        open_paths: Iterable[str] = (),
    ) -> ExpectedShape:
        """From ``{path: type or [types]}``: every path required but the ``optional`` ones."""
        resolved = {
            path: frozenset((types,) if isinstance(types, str) else types)
            for path, types in paths.items()
        }
        # A path's ancestors exist implicitly: "owner.name" implies owner is an object.
        for declared in list(resolved):
            child, parent = declared, _parent(declared)
            while parent and parent not in resolved:
                resolved[parent] = frozenset({"array" if child.endswith("[]") else "object"})
                child, parent = parent, _parent(parent)
        skipped = set(optional)
        required = frozenset(p for p in resolved if p not in skipped and not p.endswith("[]"))
        return cls(resolved, required, frozenset(open_paths))

    @classmethod
    def from_schema(cls, schema: Mapping[str, object]) -> ExpectedShape:
        """From a JSON Schema subset: type, properties, required, items, additionalProperties."""
        paths: dict[str, frozenset[str]] = {}
        required: set[str] = set()
        open_paths: set[str] = set()
        stack: list[tuple[str, Mapping[str, object]]] = [("", schema)]
        while stack:
            path, node = stack.pop()
            types = schema_types(node)
            if path:
                paths[path] = types
            properties = node.get("properties")
            if isinstance(properties, Mapping):
                names = node.get("required")
                wanted = set(names) if isinstance(names, list) else set()
                for name, child in properties.items():
                    child_path = f"{path}.{name}" if path else str(name)
                    if name in wanted:
                        required.add(child_path)
                    if isinstance(child, Mapping):
                        stack.append((child_path, child))
            if node.get("additionalProperties") is True:
                open_paths.add(path)
            items = node.get("items")
            if isinstance(items, Mapping):
                stack.append((f"{path}[]", items))
        return cls(paths, frozenset(required), frozenset(open_paths))


def schema_types(node: Mapping[str, object]) -> frozenset[str]:
    """The JSON types a schema node allows (``integer`` is ``number``; none given: any)."""
    given = node.get("type")
    names = [given] if isinstance(given, str) else given if isinstance(given, list) else None
    if names is None:
        if "properties" in node:
            return frozenset({"object"})
        if "items" in node:
            return frozenset({"array"})
        return frozenset(JSON_TYPES)
    return frozenset("number" if name == "integer" else str(name) for name in names)


@dataclass(frozen=True)
class ShapeDiff:
    """How an actual shape departs from the expected one (paths sorted, each list bounded)."""

    missing: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.missing or self.added or self.changed)

    def rules(self) -> tuple[str, ...]:
        found = []
        if self.missing:
            found.append(RULE_MISSING)
        if self.added:
            found.append(RULE_ADDED)
        if self.changed:
            found.append(RULE_TYPE)
        return tuple(found)


def diff(expected: ExpectedShape, actual: Shape, limit: int = MAX_REPORTED_PATHS) -> ShapeDiff:
    missing = [
        path
        for path in expected.required
        if path not in actual and "object" in actual.get(_parent(path), _ROOT)
    ]
    changed = [
        path
        for path, types in actual.items()
        if path in expected.paths and not _same_types(expected.paths[path], types)
    ]
    added = []
    for path in actual:
        if path in expected.paths:
            continue
        parent = _parent(path)
        # Report the top-most unknown path only, and nothing under an open object.
        if (parent == "" or parent in expected.paths) and parent not in expected.open:
            added.append(path)
    return ShapeDiff(
        tuple(sorted(missing)[:limit]), tuple(sorted(added)[:limit]), tuple(sorted(changed)[:limit])
    )


_ROOT = frozenset({"object"})


class ShapeRegistry:
    """Recently seen shapes by id (bounded LRU), shared by wrappers and the worker."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._shapes: OrderedDict[str, Shape] = OrderedDict()
        self._lock = threading.Lock()
        # A fork while a request thread held the lock would leave it held forever.
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def remember(self, shape: Shape) -> str:
        ident = shape_id(shape)
        with self._lock:
            if ident in self._shapes:
                self._shapes.move_to_end(ident)
            else:
                self._shapes[ident] = shape
                if len(self._shapes) > self._capacity:
                    self._shapes.popitem(last=False)
        return ident

    def recall(self, ident: str) -> Shape | None:
        with self._lock:
            return self._shapes.get(ident)


#: The process's registry (a forked child inherits it; ids are content hashes, so that is right).
REGISTRY = ShapeRegistry()
