"""The varying-load scenario's parts: run the service, record it, build its baseline.

``run_service`` starts ``service.py`` under ``opentelemetry-instrument`` on
127.0.0.1 with spans exported to OTLP/JSON, drives phases of varying load
(``load.drive``) with a behaviour switch before each, and reads back what was
exported. ``build_expectations`` turns a recorded run into per-route CSV files
(duration in ms, status class, in time order), runs the real
``otel-drift baseline`` on each and composes the expectations file the live
run watches. ``windows`` places each route's windows against the switches.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from otel_drift._internal.values import status_class
from tests.scenarios import load
from tests.web.servers import SpanRecord, free_port, read_spans

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

#: Expectation name -> the route the Flask instrumentation reports.
ROUTES: Mapping[str, str] = {
    "orders": "/orders",
    "search": "/search",
    "profile": "/profile/<int:user>",
}
WINDOW_SPANS = 500
MIN_SAMPLES = 100


@dataclass(frozen=True)
class Phase:
    """``requests`` under varying load (schedule ``seed``), after ``control`` (if any)."""

    requests: int
    seed: int
    control: Mapping[str, Any] | None = None


@dataclass
class Run:
    spans: list[SpanRecord]
    #: time.time_ns() just before each phase's switch (and its traffic) began
    phase_starts: list[int]
    statuses: list[dict[int, int]]
    log: str
    out: Path

    def served(self, route: str) -> list[SpanRecord]:
        """The route's server spans in the order they ended (the order windows fill)."""
        found = [s for s in self.spans if s.kind == 2 and s.attributes.get("http.route") == route]
        return sorted(found, key=lambda s: s.end_ns)

    def evaluations(self, expectation: str) -> list[SpanRecord]:
        found = [
            s
            for s in self.spans
            if s.name == "drift.evaluation" and s.attributes.get("drift.expectation") == expectation
        ]
        return sorted(found, key=lambda s: s.start_ns)


def run_service(
    tmp_path: Path, name: str, phases: Sequence[Phase], expectations: Path | None
) -> Run:
    """Start the service (otel-drift on when ``expectations`` is given), drive the phases, stop."""
    port = free_port()
    out = tmp_path / f"{name}-otlp"
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "shop",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
        "OTEL_DRIFT_CONSOLE": "true",
        "SCENARIO_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        # The default queue (2048) drops spans at these rates; every span is read back.
        "OTEL_BSP_MAX_QUEUE_SIZE": "200000",
        "OTEL_BSP_SCHEDULE_DELAY": "500",
    }
    env.pop("OTEL_DRIFT_EXPECTATIONS", None)
    if expectations is not None:
        env["OTEL_DRIFT_EXPECTATIONS"] = str(expectations)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / f"{name}.log"
    starts: list[int] = []
    statuses: list[dict[int, int]] = []
    command = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(HERE / "service.py")]
    with log.open("w") as stream:
        # A file, not a pipe: a pipe nobody reads fills up and blocks the service.
        service = subprocess.Popen(command, env=env, stdout=stream, stderr=stream)
        try:
            load.wait_until_up(base)
            for phase in phases:
                starts.append(time.time_ns())
                if phase.control is not None:
                    load.post_json(base + "/control", json.dumps(phase.control).encode())
                statuses.append(load.drive(base, phase.requests, phase.seed))
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
    return Run(read_spans(out / "traces.jsonl"), starts, statuses, log.read_text(), out)


def write_csv(spans: Sequence[SpanRecord], path: Path) -> int:
    """One row per request, oldest first: its duration (ms) and status class."""
    ordered = sorted(spans, key=lambda s: s.start_ns)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["duration_ms", "status_class"])
        for span in ordered:
            code = span.attributes.get("http.response.status_code") or span.attributes.get(
                "http.status_code"
            )
            writer.writerow([f"{(span.end_ns - span.start_ns) / 1e6:.4f}", status_class(code)])
    return len(ordered)


def run_baseline_cli(data: Path, output: Path, name: str) -> dict[str, Any]:
    """``otel-drift baseline`` on one route's CSV; its expectation, parsed."""
    done = subprocess.run(
        [
            str(BIN / "otel-drift"),
            "baseline",
            str(data),
            "-o",
            str(output),
            "--name",
            name,
            "--window",
            str(WINDOW_SPANS),
            "--min-samples",
            str(MIN_SAMPLES),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(output.read_text())
    (expectation,) = document["expectations"]
    return dict(expectation)


def _watch(entry: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """A span watch from one of the CLI's feature watches: its baseline and method.

    With a learned ``reference`` the thresholds are left for the loader to
    derive from it; without one, the CLI's thresholds are kept.
    """
    kept = {k: v for k, v in entry.items() if k not in ("feature", "source", "constraints")}
    if "reference" in kept or "reference" in kept.get("baseline", {}):
        kept.pop("warning", None)
        kept.pop("critical", None)
    return {**source, **kept}


def build_expectations(recorded: Run, folder: Path) -> Path:
    """Per-route CSVs -> ``otel-drift baseline`` -> the live run's expectations file."""
    expectations = []
    for name, route in ROUTES.items():
        data = folder / f"{name}.csv"
        write_csv(recorded.served(route), data)
        built = run_baseline_cli(data, folder / f"{name}.baseline.yaml", name)
        watch = built["watch"]
        expectations.append(
            {
                "name": name,
                "match": {"span_kind": "server", "attributes": {"http.route": route}},
                "window": {"spans": WINDOW_SPANS},
                "min_samples": MIN_SAMPLES,
                "watch": {
                    "latency": _watch(
                        watch["duration_ms"], {"source": "span.duration", "unit": "ms"}
                    ),
                    "status": _watch(watch["status_class"], {"source": "http.status_class"}),
                },
            }
        )
    path = folder / "expectations.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "expectations": expectations}, sort_keys=False))
    return path


@dataclass(frozen=True)
class Window:
    """One closed window of an expectation, read back from its evaluation span."""

    expectation: str
    number: int
    #: How many of its spans started after each phase began (index = phase).
    spans_after: tuple[int, ...]
    evaluation: SpanRecord

    def level(self, watch: str) -> int:
        """The window's own level for ``watch`` (hysteresis left out), from its event."""
        return max(
            [
                int(attributes.get("drift.level", 0))
                for name, attributes in self.evaluation.events
                if name == "drift.detected" and attributes.get("drift.attribute") == watch
            ],
            default=0,
        )

    def event(self, watch: str) -> Mapping[str, Any] | None:
        for name, attributes in self.evaluation.events:
            if name == "drift.detected" and attributes.get("drift.attribute") == watch:
                return attributes
        return None

    def cell(self, watch: str) -> str:
        """``level score p`` of a watch, for messages."""
        prefix = f"drift.watch.{watch}"
        score = self.evaluation.attributes.get(f"{prefix}.score")
        p_value = self.evaluation.attributes.get(f"{prefix}.p_value")
        shown = "n/a" if score is None else f"{float(score):.4f}"
        shown_p = "" if p_value is None else f" p={float(p_value):.2e}"
        return f"{watch}: level {self.level(watch)} score {shown}{shown_p}"


def windows(run: Run, expectation: str) -> list[Window]:
    """The expectation's full windows in order, each placed against the phase starts.

    The engine fills a window with the next ``WINDOW_SPANS`` matching spans in
    the order they end, so window ``i`` holds the route's spans ``WINDOW_SPANS i``
    to ``WINDOW_SPANS (i + 1) - 1`` by end time.
    """
    served = run.served(ROUTES[expectation])
    full = [s for s in run.evaluations(expectation) if not s.attributes.get("drift.window.partial")]
    assert len(full) == len(served) // WINDOW_SPANS, (
        f"{expectation}: {len(full)} full windows for {len(served)} spans\n{run.log[-3000:]}"
    )
    made = []
    for number, evaluation in enumerate(full):
        chunk = served[number * WINDOW_SPANS : (number + 1) * WINDOW_SPANS]
        after = tuple(sum(1 for s in chunk if s.start_ns >= start) for start in run.phase_starts)
        made.append(Window(expectation, number, after, evaluation))
    return made
