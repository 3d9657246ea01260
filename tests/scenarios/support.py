"""The varying-load scenario's parts: run the service, record it, build its baseline.

``run_service`` starts ``service.py`` under ``opentelemetry-instrument`` on
127.0.0.1 with spans exported to OTLP/JSON, drives phases of varying load
(``load.drive``) with a behaviour switch before each, and reads back what was
exported. Three ways to a baseline from a recorded run:
``build_expectations`` writes per-route CSV files (duration in ms, status
class, in time order), runs the real ``otel-drift baseline`` on each and
composes the expectations file the live run watches; ``learn_from_traces``
runs ``otel-drift baseline --from-traces`` on the run's ``traces.jsonl``; and
``run_service(..., extra_env=live_learning(...))`` has the service learn its own
(``OTEL_DRIFT_LEARN``). ``windows`` places an expectation's windows against
the switches.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from otel_drift._internal.values import status_class
from tests.scenarios import load
from tests.web.servers import SpanRecord, free_port, read_spans

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
#: ``span_kind:`` names -> OTLP's SpanKind numbers.
_KINDS = {"server": 2, "client": 3}

#: Expectation name -> the route the Flask instrumentation reports.
ROUTES: Mapping[str, str] = {
    "orders": "/orders",
    "search": "/search",
    "profile": "/profile/<int:user>",
}
WINDOW_SPANS = 500
MIN_SAMPLES = 100
#: Requests recorded for the baselines: about 33 windows of 500 spans of each
#: route, 100 of the mix. Learned thresholds need some 30 to pin the spread's
#: tail (``expectations/learned.py``); from 16, a recording with or without one
#: disturbed spell set critical anywhere from 0.13 to 0.59 PSI, so steady
#: windows alarmed in some runs and the 30 % slowdown was missed in others.
RECORD = 50_000
#: Requests of a steady phase: 52 windows of 500 spans over the three routes.
STEADY = 26_000
#: Requests of each change phase: about 3 windows of /orders (a third of the traffic).
CHANGE = 4_500
SLOW = {"route": "orders", "slow": 1.3}
ERRORS = {"route": "orders", "errors": 0.06}  # 1 % -> 6 %: five points


@dataclass(frozen=True)
class Phase:
    """``requests`` under varying load (schedule ``seed``), after ``control`` (if any),
    in the traffic ``mix`` (route -> share)."""

    requests: int
    seed: int
    control: Mapping[str, Any] | None = None
    mix: Mapping[str, float] = field(default_factory=lambda: load.MIX)


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
        return self.matching({"span_kind": "server", "attributes": {"http.route": route}})

    def matching(self, match: Mapping[str, Any]) -> list[SpanRecord]:
        """The spans an expectation's ``match`` (kind and attributes) takes, by end time."""
        assert set(match) <= {"span_kind", "attributes"}, match
        kind = _KINDS[match["span_kind"]]
        wanted = dict(match.get("attributes", {})).items()
        found = [
            s
            for s in self.spans
            if s.kind == kind and all(s.attributes.get(k) == v for k, v in wanted)
        ]
        return sorted(found, key=lambda s: s.end_ns)

    def evaluations(self, expectation: str) -> list[SpanRecord]:
        found = [
            s
            for s in self.spans
            if s.name == "drift.evaluation" and s.attributes.get("drift.expectation") == expectation
        ]
        return sorted(found, key=lambda s: s.start_ns)


def live_learning(spans: int, folder: Path) -> dict[str, str]:
    """The environment of a service learning from its first ``spans`` spans into ``folder``."""
    return {
        "OTEL_DRIFT_LEARN": str(spans),
        # A span count: live learning's window too.
        "OTEL_DRIFT_WINDOW": str(WINDOW_SPANS),
        "OTEL_DRIFT_BASELINE_DIR": str(folder),
    }


def run_service(
    tmp_path: Path,
    name: str,
    phases: Sequence[Phase],
    expectations: Path | None,
    extra_env: Mapping[str, str] | None = None,
) -> Run:
    """Start the service (otel-drift judging when ``expectations`` is given, or as
    ``extra_env`` sets it), drive the phases, stop."""
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
    env.update(extra_env or {})
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
                statuses.append(load.drive(base, phase.requests, phase.seed, phase.mix))
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


def _baseline(*arguments: str) -> None:
    """``otel-drift baseline ARGUMENTS --window 500 --no-progress``, which must succeed."""
    done = subprocess.run(
        [
            str(BIN / "otel-drift"),
            "baseline",
            *arguments,
            "--window",
            str(WINDOW_SPANS),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def run_baseline_cli(data: Path, output: Path, name: str) -> dict[str, Any]:
    """``otel-drift baseline`` on one route's CSV; its expectation, parsed."""
    _baseline(str(data), "-o", str(output), "--name", name, "--min-samples", str(MIN_SAMPLES))
    document = yaml.safe_load(output.read_text())
    (expectation,) = document["expectations"]
    return dict(expectation)


def learn_from_traces(recorded: Run, output: Path) -> Path:
    """``otel-drift baseline --from-traces`` on the recording's folder, into ``output``."""
    _baseline("--from-traces", str(recorded.out), "-o", str(output))
    return output


def matches(path: Path) -> dict[str, Mapping[str, Any]]:
    """Expectation name -> its ``match``, in the file's order."""
    document = yaml.safe_load(path.read_text())
    return {e["name"]: e["match"] for e in document["expectations"]}


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


def windows(
    run: Run, expectation: str, match: Mapping[str, Any], learned_first: bool = False
) -> list[Window]:
    """The expectation's full windows in order, each placed against the phase starts.

    The engine fills a window with the next ``WINDOW_SPANS`` matching spans in
    the order they end, the last ones partly at exit, so window ``i`` holds the
    judged spans ``WINDOW_SPANS i`` to ``WINDOW_SPANS (i + 1) - 1`` by end time.
    Every matching span is judged, unless the service ``learned_first``: then
    the judged ones are the last (those that ended after the hand-over).
    """
    served = run.matching(match)
    evaluations = run.evaluations(expectation)
    full = [s for s in evaluations if not s.attributes.get("drift.window.partial")]
    last = sum(
        int(s.attributes["drift.window.spans"])
        for s in evaluations
        if s.attributes.get("drift.window.partial")
    )
    skipped = len(served) - len(full) * WINDOW_SPANS - last
    assert skipped > 0 if learned_first else skipped == 0, (
        f"{expectation}: {len(full)} full windows and {last} spans at exit for "
        f"{len(served)} spans\n{run.log[-3000:]}"
    )
    made = []
    for number, evaluation in enumerate(full):
        start = skipped + number * WINDOW_SPANS
        chunk = served[start : start + WINDOW_SPANS]
        after = tuple(sum(1 for s in chunk if s.start_ns >= start) for start in run.phase_starts)
        made.append(Window(expectation, number, after, evaluation))
    return made


def explained(run: Run, window: Window, watch: str) -> tuple[str, ...]:
    """``drift.top_changes`` of the window's event on ``watch``, also on a console line."""
    event = window.event(watch)
    assert event is not None
    changes = tuple(str(c) for c in event.get("drift.top_changes", ()))
    assert changes, f"no drift.top_changes on the event: {dict(event)}"
    console = [
        line
        for line in run.log.splitlines()
        # Console lines name the process: "[otel-drift <service.instance.id>] ...".
        if line.startswith("[otel-drift")
        and f"] {window.expectation}.{watch}:" in line
        and "-> critical" in line
    ]
    assert console, run.log[-3000:]
    assert any(change in line for line in console for change in changes), (changes, console)
    return changes
