"""Privacy: no raw watched value leaves the process, except numbers in violation spans.

A Flask app under ``opentelemetry-instrument`` exports traces, metrics and
logs over OTLP/HTTP (protobuf; traces gzip-compressed) to a receiver in this
test that keeps every request body. Unique markers go into the request body,
a header, the query string, and, through the app, into watched categorical
span attributes that break an ``allowed`` constraint (so violation spans fire).

- Body and header markers the app never put on a span: nowhere at all.
- Query-string marker: nowhere in what otel-drift produced. (Contrib's Flask
  instrumentation itself records the query string on its server span, in
  ``http.target``; that is OpenTelemetry's behaviour, asserted here so that a
  change in it is noticed.)
- Markers the app put into watched attributes: on the app's own spans, as the
  app asked, and nowhere in what otel-drift produced; its violation spans show
  them only as ``hmac-sha256:`` keyed hashes. A numeric violation shows the number.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_drift._internal.semconv import OWN_SCOPE
from tests.hardening.support import BIN

RecordFigures = Callable[[str, dict[str, object]], None]

pytestmark = pytest.mark.e2e

APP = """\
import hashlib
import os
import signal
import sys

from flask import Flask, request
from opentelemetry import trace

app = Flask(__name__)


@app.post("/checkout")
def checkout() -> str:
    body = request.get_json()
    # The card number and the API key are used, never recorded.
    receipt = hashlib.sha256((body["card"] + request.headers["X-Api-Key"]).encode()).hexdigest()
    span = trace.get_current_span()
    # Watched values the app records on its own span, as a service would.
    span.set_attribute("app.plan", body["plan"])
    span.set_attribute("app.tier", request.headers["X-Tier"])
    span.set_attribute("app.amount", body["amount"])
    return receipt[:8]


def _exit(_signum: int, _frame: object) -> None:
    sys.exit(0)  # runs atexit: the last window is evaluated and everything flushed


signal.signal(signal.SIGTERM, _exit)
app.run(host="127.0.0.1", port=int(os.environ["APP_PORT"]), threaded=True)
"""

EXPECTATIONS = """\
version: 1
expectations:
  - name: checkout
    match: {span_kind: server, attributes: {http.route: /checkout}}
    window: {spans: 5}
    min_samples: 1
    watch:
      plan:
        attribute: app.plan
        baseline: {categories: {free: 0.6, pro: 0.4}}
        constraints: {allowed: [free, pro], type: string}
      tier:
        attribute: app.tier
        constraints: {allowed: [gold, silver]}
      amount:
        attribute: app.amount
        baseline: {bins: [0, 100, 1000], fractions: [0.5, 0.5]}
        constraints: {max: 1000}
      latency:
        source: span.duration
        baseline: {bins: [0, 10, 100, 1000], fractions: [0.5, 0.3, 0.2]}
"""

REQUESTS = 12
#: A number that breaks ``max``: numbers may leave in violation spans, as themselves.
BIG_AMOUNT = 987654321


def _marker(kind: str) -> str:
    return f"MRK{kind}{uuid.uuid4().hex}"


@dataclass
class Captured:
    """Every OTLP request the receiver got: path and body as received."""

    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payloads(self) -> Iterator[tuple[str, bytes, bytes]]:
        """(path, raw body, decompressed body)."""
        with self.lock:
            requests = list(self.requests)
        for path, encoding, body in requests:
            yield path, body, gzip.decompress(body) if encoding == "gzip" else body


@contextmanager
def receiver() -> Iterator[tuple[int, Captured]]:
    captured = Captured()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with captured.lock:
                captured.requests.append(
                    (self.path, self.headers.get("Content-Encoding", ""), body)
                )
            # An empty Export*ServiceResponse: full success.
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), captured
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(base: str, markers: dict[str, str], plan: str, amount: int) -> None:
    body = json.dumps({"card": markers["body"], "plan": plan, "amount": amount}).encode()
    request = urllib.request.Request(
        f"{base}/checkout?coupon={markers['query']}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Api-Key": markers["header"],
            "X-Tier": markers["tier"],
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _wait_up(base: str, app: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert app.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 1):
                return
        except OSError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def _decode(path: str, data: bytes) -> Message:
    kinds: dict[str, type[Message]] = {
        "/v1/traces": ExportTraceServiceRequest,
        "/v1/metrics": ExportMetricsServiceRequest,
        "/v1/logs": ExportLogsServiceRequest,
    }
    message = kinds[path]()
    message.ParseFromString(data)
    return message


@dataclass
class Split:
    """The captured telemetry, split by who produced it."""

    own: list[bytes] = field(default_factory=list)  # serialized scope blocks of otel-drift
    host: list[bytes] = field(default_factory=list)
    own_span_names: list[str] = field(default_factory=list)
    violation_values: list[object] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)


def _split(captured: Captured) -> Split:
    split = Split()
    for path, _raw, data in captured.payloads():
        message = _decode(path, data)
        for resource_block in getattr(
            message,
            {"/v1/traces": "resource_spans", "/v1/metrics": "resource_metrics"}.get(
                path, "resource_logs"
            ),
        ):
            scope_blocks = (
                getattr(resource_block, "scope_spans", None)
                or getattr(resource_block, "scope_metrics", None)
                or getattr(resource_block, "scope_logs", None)
                or []
            )
            for block in scope_blocks:
                ours = block.scope.name.startswith(OWN_SCOPE)
                (split.own if ours else split.host).append(block.SerializeToString())
                if not ours:
                    continue
                for span in getattr(block, "spans", []):
                    split.own_span_names.append(span.name)
                    for attribute in span.attributes:
                        if attribute.key == "drift.value":
                            value = attribute.value
                            split.violation_values.append(
                                getattr(value, value.WhichOneof("value") or "string_value")
                            )
                for metric in getattr(block, "metrics", []):
                    split.metric_names.add(metric.name)
    return split


def test_no_raw_value_leaves_except_numbers_in_violations(
    tmp_path: Path, figures: RecordFigures
) -> None:
    markers = {kind: _marker(kind) for kind in ("body", "header", "query", "plan", "tier")}
    (tmp_path / "app.py").write_text(APP)
    expectations = tmp_path / "expectations.yaml"
    expectations.write_text(EXPECTATIONS)
    port = _free_port()
    disabled = {ep.name for ep in entry_points(group="opentelemetry_instrumentor")} - {"flask"}
    with receiver() as (otlp_port, captured):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            "APP_PORT": str(port),
            "OTEL_SERVICE_NAME": "privacy-app",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_DRIFT_EXPECTATIONS": str(expectations),
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(sorted(disabled)),
        }
        log = tmp_path / "app.log"
        with log.open("w") as stderr:
            app = subprocess.Popen(
                [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "app.py"],
                cwd=tmp_path,
                env=env,
                stderr=stderr,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_up(base, app, log)
                for i in range(REQUESTS):
                    amount = BIG_AMOUNT if i == 0 else 50
                    _post(base, markers, markers["plan"] if i % 2 else "free", amount)
                time.sleep(1.0)  # at least one metric export while running
            finally:
                app.send_signal(signal.SIGTERM)
                app.wait(timeout=60)
        assert app.returncode == 0, log.read_text()

    split = _split(captured)
    everything = [blob for _path, raw, data in captured.payloads() for blob in (raw, data)]
    found_anywhere = {
        kind: any(marker.encode() in blob for blob in everything)
        for kind, marker in markers.items()
    }
    found_in_own = {
        kind: any(marker.encode() in blob for blob in split.own) for kind, marker in markers.items()
    }
    found_in_host = {
        kind: any(marker.encode() in blob for blob in split.host)
        for kind, marker in markers.items()
    }
    figures(
        "privacy",
        {
            "otlp_requests": len(captured.requests),
            "own_scope_blocks": len(split.own),
            "violation_spans": split.own_span_names.count("drift.violation"),
            "evaluation_spans": split.own_span_names.count("drift.evaluation"),
            "markers_in_own_telemetry": sum(found_in_own.values()),
            "query_marker_in_contrib_spans": found_in_host["query"],
        },
    )
    # The test saw what it claims to: our spans and metrics, and violations of both kinds.
    assert "drift.evaluation" in split.own_span_names, split.own_span_names
    assert "drift.observations" in split.metric_names, split.metric_names
    assert BIG_AMOUNT in split.violation_values, split.violation_values
    hashed = [v for v in split.violation_values if isinstance(v, str)]
    assert hashed and all(v.startswith("hmac-sha256:") for v in hashed), split.violation_values
    # Nothing otel-drift produced carries a marker.
    assert not any(found_in_own.values()), found_in_own
    # Body and header values the app did not record are nowhere.
    assert not found_anywhere["body"] and not found_anywhere["header"], found_anywhere
    # What the host recorded itself is there: the app's attributes, and contrib's query
    # string (OpenTelemetry's behaviour, not ours).
    assert found_in_host["plan"] and found_in_host["tier"], found_in_host
    assert found_in_host["query"], found_in_host
