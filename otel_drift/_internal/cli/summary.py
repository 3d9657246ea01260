"""``otel-drift summary``: read the drift verdicts back from an OTLP/JSON traces file.

This reads what was exported (the ``drift.evaluation`` and ``drift.violation``
spans, see :mod:`otel_drift._internal.cli.traces`), not the process's memory,
so it shows what any backend would show. Each process (``service.name`` and
``service.instance.id``) is shown apart when the file holds several; windows
of a drifting value say what moved and why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, command
from otel_drift._internal.cli.traces import (
    EvaluationRecord,
    WatchWindow,
    count_violations,
    processes,
    read_evaluations,
)
from otel_drift._internal.exporters.otlp_json_file import TRACES_FILE_NAME
from otel_drift._internal.semconv import STATUS_NAMES


def _cell(watch: str, window: WatchWindow) -> str:
    shown = "n/a" if window.score is None else f"{window.score:.3f}"
    return f"{watch}={STATUS_NAMES.get(window.status, window.status)} ({window.method} {shown})"


def _detail(window: WatchWindow) -> str:
    """What moved and why, for a value that is not plainly ok ("" when nothing is known)."""
    if window.status == 0 and not window.level:
        return ""
    parts = []
    if window.p_value is not None:
        parts.append(f"p={window.p_value:.2g}")
    if window.top_changes:
        parts.append("moved: " + "; ".join(window.top_changes))
    if window.explained:
        parts.append(
            "explained by "
            + ", ".join(f"{segment} ({100 * share:.0f}%)" for segment, share in window.explained)
        )
    if window.reason:
        parts.append(window.reason)
    elif window.status < 0 or window.level is None:
        pass
    elif window.score is None:
        parts.append("status kept: too few values in this window to score")
    elif window.level < window.status:
        parts.append(f"held by hysteresis (this window alone is {STATUS_NAMES[window.level]})")
    elif window.level > window.status:
        parts.append(f"this window is {STATUS_NAMES[window.level]}, not yet raised")
    return ", ".join(parts)


def _windows(records: list[EvaluationRecord], tagged: bool) -> list[str]:
    lines = []
    for expectation in sorted({r.expectation for r in records}):
        lines.append(f"expectation {expectation!r}:")
        for number, record in enumerate(r for r in records if r.expectation == expectation):
            cells = [_cell(watch, window) for watch, window in sorted(record.watches.items())]
            if record.unread:
                cells.append(f"{record.unread} values omitted by the span (ok)")
            tail = " [partial]" if record.partial else ""
            if tagged:
                tail += f" [{record.process}]"
            lines.append(
                f"  window {number + 1:>3} ({record.spans} spans){tail}: " + ", ".join(cells)
            )
            for watch, window in sorted(record.watches.items()):
                detail = _detail(window)
                if detail:
                    lines.append(f"        {watch}: {detail}")
    return lines


def format_summary(
    records: list[EvaluationRecord],
    violations: Mapping[tuple[str, str, str, str], int],
    combine: bool = False,
) -> str:
    """The summary's text: per process (unless ``combine``), per expectation, per window."""
    if not records:
        return "no drift.evaluation spans found\n"
    names = processes(records)
    lines = []
    if len(names) > 1 and combine:
        lines.append(f"{len(names)} processes combined; each window names its process")
        lines.extend(_windows(records, tagged=True))
    elif len(names) > 1:
        lines.append(
            f"{len(names)} processes (service.name service.instance.id), shown apart; "
            "--combine merges them"
        )
        for name in names:
            lines.append(f"process {name}:")
            lines.extend(_windows([r for r in records if r.process == name], tagged=False))
    else:
        lines.extend(_windows(records, tagged=False))
    for (process, expectation, watch, rule), count in sorted(violations.items()):
        where = f" ({process})" if len(names) > 1 else ""
        lines.append(f"violation spans: {expectation}.{watch} rule {rule!r}{where}: {count}")
    return "\n".join(lines) + "\n"


def _summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help=f"a traces file, or a folder holding {TRACES_FILE_NAME}")
    parser.add_argument(
        "--combine",
        action="store_true",
        help="one list for every process (default: each service.instance.id apart)",
    )


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
    text = format_summary(read_evaluations(path), count_violations(path), args.combine)
    print(text, end="")
    return EXIT_OK
