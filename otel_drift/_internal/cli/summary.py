"""``otel-drift summary``: read the drift verdicts back from an OTLP/JSON traces file.

This reads what was exported (the ``drift.evaluation`` and ``drift.violation``
spans), not the process's memory, so it shows what any backend would show.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_drift._internal import semconv as sc
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, command
from otel_drift._internal.exporters.otlp_json_file import (
    TRACES_FILE_NAME,
    attributes_dict,
    read_otlp_json,
)
from otel_drift._internal.semconv import STATUS_NAMES


@dataclass(frozen=True)
class EvaluationRecord:
    """One ``drift.evaluation`` span, as read back from OTLP/JSON."""

    service: str
    expectation: str
    start_time_ns: int
    status: int
    partial: bool
    spans: int
    #: watch -> (status, score or None, method)
    watches: Mapping[str, tuple[int, float | None, str]]
    #: Watched values left off the span for room (the least severe ones).
    omitted: int = 0


def _spans(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for request in read_otlp_json(path):
        for resource_spans in request.get("resourceSpans", []):
            resource = attributes_dict(resource_spans.get("resource", {}).get("attributes", []))
            service = str(resource.get("service.name", "?"))
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    yield service, span


def read_evaluations(path: Path) -> list[EvaluationRecord]:
    """Every ``drift.evaluation`` span in an OTLP/JSON traces file, oldest first."""
    records = []
    for service, span in _spans(path):
        if span.get("name") != sc.EVALUATION_SPAN:
            continue
        attributes = attributes_dict(span.get("attributes", []))
        watches: dict[str, tuple[int, float | None, str]] = {}
        prefix = sc.WATCH_PREFIX
        for key, value in attributes.items():
            if key.startswith(prefix) and key.endswith(".status"):
                name = key[len(prefix) : -len(".status")]
                score = attributes.get(f"{prefix}{name}.score")
                method = attributes.get(f"{prefix}{name}.method", "?")
                watches[name] = (int(value), None if score is None else float(score), str(method))
        records.append(
            EvaluationRecord(
                service=service,
                expectation=str(attributes.get(sc.EXPECTATION, "?")),
                start_time_ns=int(span.get("startTimeUnixNano", 0)),
                status=int(attributes.get(sc.STATUS, 0)),
                partial=bool(attributes.get(sc.WINDOW_PARTIAL, False)),
                spans=int(attributes.get(sc.WINDOW_SPANS, 0)),
                watches=watches,
                omitted=int(attributes.get(sc.WATCHES_OMITTED, 0)),
            )
        )
    records.sort(key=lambda r: r.start_time_ns)
    return records


def count_violations(path: Path) -> dict[tuple[str, str, str], int]:
    """(expectation, watched value, rule) -> number of exported violation spans."""
    counts: dict[tuple[str, str, str], int] = {}
    for _service, span in _spans(path):
        if span.get("name") == sc.VIOLATION_SPAN:
            attributes = attributes_dict(span.get("attributes", []))
            key = (
                str(attributes.get(sc.EXPECTATION)),
                str(attributes.get(sc.ATTRIBUTE)),
                str(attributes.get(sc.RULE)),
            )
            counts[key] = counts.get(key, 0) + 1
    return counts


def format_summary(
    records: list[EvaluationRecord], violations: Mapping[tuple[str, str, str], int]
) -> str:
    if not records:
        return "no drift.evaluation spans found\n"
    lines = []
    for expectation in sorted({r.expectation for r in records}):
        lines.append(f"expectation {expectation!r}:")
        for number, record in enumerate(r for r in records if r.expectation == expectation):
            cells = []
            for watch, (status, score, method) in sorted(record.watches.items()):
                shown = "n/a" if score is None else f"{score:.3f}"
                cells.append(f"{watch}={STATUS_NAMES[status]} ({method} {shown})")
            tail = " [partial]" if record.partial else ""
            if record.omitted:
                cells.append(f"(+{record.omitted} more values, not drifting)")
            lines.append(
                f"  window {number + 1:>3} ({record.spans} spans){tail}: " + ", ".join(cells)
            )
    for (expectation, watch, rule), count in sorted(violations.items()):
        lines.append(f"violation spans: {expectation}.{watch} rule {rule!r}: {count}")
    return "\n".join(lines) + "\n"


def _summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help=f"a traces file, or a folder holding {TRACES_FILE_NAME}")


@command(
    "summary",
    "print the drift verdicts found in an OTLP/JSON traces file or folder",
    _summary_arguments,
)
def summary(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.is_dir():
        path = path / TRACES_FILE_NAME
    if not path.is_file():
        print(f"otel-drift summary: {path}: no such file", file=sys.stderr)
        return EXIT_FAILED
    print(format_summary(read_evaluations(path), count_violations(path)), end="")
    return EXIT_OK
