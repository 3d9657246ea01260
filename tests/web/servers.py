"""Running the web examples for real: upstream + service under opentelemetry-instrument.

Loopback only, bounded request counts. Verdicts are read back from the
OTLP/JSON the service exported, as any backend would see them.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from otel_drift._internal.exporters.otlp_json_file import read_otlp_json
from tests.support import IN_CI
from tests.web.support import WEB, load_example

BIN = Path(sys.executable).parent
traffic = load_example("traffic")


def require(module: str) -> None:
    """Skip without a real component, except in CI where that is a failure."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class SpanRecord:
    name: str
    kind: int
    scope: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    events: Sequence[tuple[str, Mapping[str, Any]]]


def _value(raw: Mapping[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in raw:
            return raw[key]
    if "intValue" in raw:
        return int(raw["intValue"])
    if "arrayValue" in raw:
        return tuple(_value(v) for v in raw["arrayValue"].get("values", []))
    return None


def _attributes(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def read_spans(path: Path) -> list[SpanRecord]:
    found = []
    for request in read_otlp_json(path):
        for resource_spans in request.get("resourceSpans", []):
            for scope_spans in resource_spans.get("scopeSpans", []):
                scope = scope_spans.get("scope", {}).get("name", "")
                for span in scope_spans.get("spans", []):
                    found.append(
                        SpanRecord(
                            name=span["name"],
                            kind=int(span.get("kind", 0)),
                            scope=scope,
                            start_ns=int(span["startTimeUnixNano"]),
                            end_ns=int(span["endTimeUnixNano"]),
                            attributes=_attributes(span.get("attributes", [])),
                            events=[
                                (e["name"], _attributes(e.get("attributes", [])))
                                for e in span.get("events", [])
                            ],
                        )
                    )
    return found


@dataclass
class Run:
    """What a service exported, with the times its traffic phases started."""

    spans: list[SpanRecord]
    phase_starts: list[int]
    log: str
    statuses: list[dict[int, int]] = field(default_factory=list)
    #: The service's exit status (negative: the signal that ended it).
    returncode: int | None = None

    def evaluations(self, expectation: str) -> list[SpanRecord]:
        return [
            s
            for s in self.spans
            if s.name == "drift.evaluation" and s.attributes.get("drift.expectation") == expectation
        ]

    def worst(self, expectation: str, watch: str, phase: int) -> int:
        """Worst level of a watch over the windows entirely inside phase ``phase``.

        The window's own level (from its ``drift.detected`` event), not the
        status: hysteresis carries a status over from the windows before.
        """
        start = self.phase_starts[phase]
        end = self.phase_starts[phase + 1] if phase + 1 < len(self.phase_starts) else 1 << 63
        levels = [
            max(
                [
                    int(attributes.get("drift.level", 0))
                    for name, attributes in s.events
                    if name == "drift.detected" and attributes.get("drift.attribute") == watch
                ],
                default=0,
            )
            for s in self.evaluations(expectation)
            if s.start_ns >= start and s.end_ns <= end
        ]
        assert levels, f"no window of {expectation} inside phase {phase}:\n{self.log[-3000:]}"
        return max(levels)

    def watches(self) -> set[tuple[str, str]]:
        prefix = "drift.watch."
        return {
            (str(s.attributes["drift.expectation"]), key[len(prefix) : -len(".status")])
            for s in self.spans
            if s.name == "drift.evaluation"
            for key in s.attributes
            if key.startswith(prefix) and key.endswith(".status")
        }

    def violation_rules(self, expectation: str) -> set[str]:
        return {
            str(s.attributes.get("drift.rule"))
            for s in self.spans
            if s.name == "drift.violation" and s.attributes.get("drift.expectation") == expectation
        }


@contextmanager
def _process(
    command: list[str],
    env: Mapping[str, str],
    log: Path,
    cwd: Path,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("a") as stream:
        # A file, not a pipe: a pipe nobody reads fills up and blocks the process.
        process = subprocess.Popen(command, env=dict(env), stderr=stream, stdout=stream, cwd=cwd)
        try:
            yield process
        finally:
            process.send_signal(stop)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_service(
    tmp_path: Path,
    command: list[str],
    phases: Sequence[tuple[str, int]],
    expectations: Path,
    *,
    mix: Mapping[str, float] | None = None,
    extra_env: Mapping[str, str] | None = None,
    concurrency: int = 8,
    stop: signal.Signals = signal.SIGTERM,
) -> Run:
    """Start upstream and ``command`` (with {port} filled in), send the phases, stop both."""
    port, upstream_port = free_port(), free_port()
    out = tmp_path / "otlp"
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "web-example",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_DRIFT_EXPECTATIONS": str(expectations),
        "OTEL_DRIFT_CONSOLE": "true",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
        "UPSTREAM_PORT": str(upstream_port),
        "UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
        "PYTHONUNBUFFERED": "1",
        # The default queue (2048) drops spans at these rates; every span is read back.
        "OTEL_BSP_MAX_QUEUE_SIZE": "200000",
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        **(extra_env or {}),
    }
    log = tmp_path / "service.log"
    base = f"http://127.0.0.1:{port}"
    starts: list[int] = []
    statuses = []
    upstream = [str(BIN / "python"), str(WEB / "upstream.py")]
    # The venv's own executables: its bin folder need not be on PATH.
    program = str(BIN / command[0])
    service = [
        str(BIN / "opentelemetry-instrument"),
        program,
        *(c.format(port=port) for c in command[1:]),
    ]
    with (
        _process(upstream, env, tmp_path / "upstream.log", WEB),
        _process(service, env, log, WEB, stop) as served,
    ):
        traffic.wait_until_up(base)
        traffic.wait_until_up(f"http://127.0.0.1:{upstream_port}", "/users/1")
        time.sleep(0.2)  # let every pre-forked worker finish booting
        for scenarios, count in phases:
            starts.append(time.time_ns())
            made = traffic.paths(count, scenarios.split(","), mix or traffic.WSGI_MIX)
            statuses.append(traffic.send(base, made, concurrency))
    return Run(
        read_spans(out / "traces.jsonl"), starts, log.read_text(), statuses, served.returncode
    )
