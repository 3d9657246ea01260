"""``ConsoleReporter``: a line on stderr per status change, for local runs and demos.

An engine listener (on the worker thread); with ``verbose`` it also prints
every watched value of every closed window.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.engine.what_moved import explained_text
from otel_drift._internal.semconv import STATUS_NAMES


class ConsoleReporter:
    """Prints one line per status change (and per window when ``verbose``)."""

    def __init__(
        self, stream: TextIO | None = None, *, verbose: bool = False, process: str | None = None
    ) -> None:
        self._stream = stream
        self._verbose = verbose
        # Several processes (gunicorn workers, replicas) share one terminal or log.
        self._process = f" {process}" if process else ""
        self._lock = threading.Lock()

    def __call__(self, window: WindowEvaluation) -> None:
        lines = []
        for evaluation in window.watches:
            changed = evaluation.status != evaluation.previous_status
            if not (changed or self._verbose):
                continue
            arrow = (
                f"{STATUS_NAMES[evaluation.previous_status]} -> {STATUS_NAMES[evaluation.status]}"
                if changed
                else STATUS_NAMES[evaluation.status]
            )
            score = "n/a" if evaluation.score is None else f"{evaluation.score:.4g}"
            p = "" if evaluation.p_value is None else f", p={evaluation.p_value:.2g}"
            moved = f": {'; '.join(evaluation.top_changes)}" if evaluation.top_changes else ""
            if evaluation.explained:
                moved += f"; {explained_text(evaluation.explained)}"
            why = f" [{evaluation.reason}]" if evaluation.reason else ""
            lines.append(
                f"[otel-drift{self._process}] {window.expectation}.{evaluation.watch}: {arrow} "
                f"({evaluation.method}={score}{p}, {evaluation.samples} values, "
                f"window of {window.spans} spans){moved}{why}\n"
            )
        if lines:
            stream = self._stream or sys.stderr
            with self._lock:
                stream.write("".join(lines))
                stream.flush()
