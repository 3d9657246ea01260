"""Outages: the OTLP endpoint is down or never answers; the request path must not notice.

The same workload (matching spans, some breaking a constraint, so the drift
worker emits violation and evaluation spans too) runs under the real SDK with
DriftSpanProcessor and a BatchSpanProcessor in front of

- healthy: the OTLP/JSON file exporter;
- down: OTLP/HTTP to a loopback port where nothing listens;
- black hole: OTLP/HTTP to a loopback server that accepts and never answers.

Per span, the request thread's cost (start_span + end, which runs every
processor's on_end) is timed. The outages may cost at most 10x the healthy p99,
p99.9 stays under 100 ms, and no span waits as long as half the exporter's
2 s timeout (which is what blocking on the network would look like). Queues
stay within their bounds, and RSS growth is bounded, in every run.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, load_expectations
from otel_drift._internal.exporters.otlp_json_file import OTLPJsonFileSpanExporter
from tests.hardening.support import percentile, rss_kib
from tests.support import EXAMPLE_FILE

RecordFigures = Callable[[str, dict[str, object]], None]

pytestmark = pytest.mark.e2e

SPANS = 20_000
WARMUP = 2_000
EXPORT_TIMEOUT_S = 2.0
DRIFT_QUEUE = 4096


@contextmanager
def black_hole() -> Iterator[int]:
    """A loopback server that accepts connections and never reads or answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again on exit: nothing listens


@dataclass
class Run:
    name: str
    durations: list[float]
    rss_growth_mib: float
    max_drift_queue: int
    max_export_queue: int
    export_queue_limit: int
    shutdown_s: float

    @property
    def p50(self) -> float:
        return percentile(self.durations, 50)

    @property
    def p99(self) -> float:
        return percentile(self.durations, 99)

    @property
    def p999(self) -> float:
        return percentile(self.durations, 99.9)

    def figures(self) -> dict[str, object]:
        return {
            f"{self.name}.p50_us": round(self.p50 * 1e6, 1),
            f"{self.name}.p99_us": round(self.p99 * 1e6, 1),
            f"{self.name}.p999_us": round(self.p999 * 1e6, 1),
            f"{self.name}.max_ms": round(max(self.durations) * 1e3, 2),
            f"{self.name}.rss_growth_mib": round(self.rss_growth_mib, 1),
            f"{self.name}.max_drift_queue": self.max_drift_queue,
            f"{self.name}.max_export_queue": self.max_export_queue,
            f"{self.name}.shutdown_s": round(self.shutdown_s, 2),
        }


def serve(name: str, exporter: SpanExporter) -> Run:
    provider = TracerProvider()
    drift = DriftSpanProcessor(
        load_expectations(EXAMPLE_FILE),
        settings=Settings(queue_size=DRIFT_QUEUE, violation_spans_per_second=100),
        tracer_provider=provider,
        emit_metrics=False,
    )
    batch = BatchSpanProcessor(exporter)
    provider.add_span_processor(drift)
    provider.add_span_processor(batch)
    tracer = provider.get_tracer("opentelemetry.instrumentation.flask")
    export_queue = batch._batch_processor._queue
    export_limit = batch._batch_processor._max_queue_size
    durations: list[float] = []
    max_drift = max_export = 0
    clock = time.perf_counter
    rss_before = rss_kib()
    for i in range(WARMUP + SPANS):
        # One in 50 answers 503, which the example file does not allow: violation spans.
        attributes = {"http.route": "/checkout", "http.status_code": 503 if i % 50 == 0 else 200}
        started = clock()
        tracer.start_span("GET /checkout", kind=SpanKind.SERVER, attributes=attributes).end()
        elapsed = clock() - started
        if i >= WARMUP:
            durations.append(elapsed)
        if i % 500 == 0:
            max_drift = max(max_drift, len(drift.engine._worker.queue))
            max_export = max(max_export, len(export_queue))
            time.sleep(0.001)  # a breath between requests, as a real service has
    growth = (rss_kib() - rss_before) / 1024
    started = clock()
    provider.shutdown()
    return Run(name, durations, growth, max_drift, max_export, export_limit, clock() - started)


def test_request_path_cost_does_not_grow_when_the_collector_is_down(
    tmp_path: Path, figures: RecordFigures
) -> None:
    healthy = serve("healthy", OTLPJsonFileSpanExporter(directory=tmp_path / "otlp"))
    down = serve(
        "down",
        OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{closed_port()}/v1/traces", timeout=EXPORT_TIMEOUT_S
        ),
    )
    with black_hole() as port:
        silent = serve(
            "black_hole",
            OTLPSpanExporter(
                endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=EXPORT_TIMEOUT_S
            ),
        )
    runs = (healthy, down, silent)
    shown: dict[str, object] = {"spans_per_run": SPANS}
    for run in runs:
        shown.update(run.figures())
    for run in (down, silent):
        shown[f"{run.name}.p99_ratio"] = round(run.p99 / healthy.p99, 2)
    figures("outage", shown)
    assert (tmp_path / "otlp" / "traces.jsonl").stat().st_size > 0, "healthy run exported nothing"
    for run in runs:
        assert run.max_drift_queue <= DRIFT_QUEUE, shown
        assert run.max_export_queue <= run.export_queue_limit, shown
        assert run.rss_growth_mib < 100, shown
    # The healthy run is the yardstick, not under test: its tail is this machine's noise.
    for run in (down, silent):
        assert run.p99 < 10 * healthy.p99, shown
        assert run.p999 < 0.1, shown
        # Waiting on the network would take up to the exporter's timeout.
        assert max(run.durations) < EXPORT_TIMEOUT_S / 2, shown
