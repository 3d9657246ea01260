"""``otel-drift shape``: the ``shape:`` of a json.shape watch, recorded from real bodies.

Give it JSON bodies saved from real traffic (files, one document each, or
JSON lines with ``--lines``); it prints the ``shape:`` block to paste under a
``source: json.shape`` watch. A path seen in every body is required; one seen
in only some is listed under ``optional``; a path seen with several types
lists them all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

import yaml

from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, command
from otel_drift._internal.json_shape import Shape, fingerprint


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="a JSON body saved from traffic")
    parser.add_argument("--lines", action="store_true", help="each file holds one body per line")


def _documents(name: str, lines: bool) -> Iterator[object]:
    with open(name, encoding="utf-8") as stream:
        if not lines:
            yield json.load(stream)
            return
        for line in stream:
            if line.strip():
                yield json.loads(line)


def record(shapes: list[Shape]) -> dict[str, object]:
    """The ``shape:`` block for bodies of these shapes.

    >>> one = {"id": frozenset({"number"})}
    >>> other = {"id": frozenset({"string"}), "x": frozenset({"null"})}
    >>> record([one, other])
    {'paths': {'id': ['number', 'string'], 'x': 'null'}, 'optional': ['x']}
    """
    seen: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for shape in shapes:
        for path, types in shape.items():
            seen.setdefault(path, set()).update(types)
            counts[path] = counts.get(path, 0) + 1
    paths: dict[str, object] = {}
    for path in sorted(seen):
        names = sorted(seen[path])
        paths[path] = names[0] if len(names) == 1 else names
    block: dict[str, object] = {"paths": paths}
    # Array elements are never required (an empty array has none): not listed.
    optional = [p for p in sorted(seen) if counts[p] < len(shapes) and not p.endswith("[]")]
    if optional:
        block["optional"] = optional
    return block


@command("shape", "print the JSON shape of sample bodies, for a json.shape watch", _arguments)
def shape(arguments: argparse.Namespace) -> int:
    shapes: list[Shape] = []
    try:
        for name in arguments.files:
            shapes.extend(fingerprint(doc) for doc in _documents(name, arguments.lines))
    except (OSError, ValueError) as error:
        print(f"otel-drift shape: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not shapes:
        print("otel-drift shape: no JSON bodies found", file=sys.stderr)
        return EXIT_FAILED
    print(f"# recorded from {len(shapes)} bodies")
    print(yaml.safe_dump({"shape": record(shapes)}, sort_keys=False), end="")
    return EXIT_OK
