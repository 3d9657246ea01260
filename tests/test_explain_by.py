"""``explain_by``: a drifting window traced to the segment of traffic that carried it.

In process, with an SDK ``TracerProvider`` and a ``DriftSpanProcessor``:
server spans of three regions in equal traffic, latency lognormal and rising
with load. Only eu-west-1 slowing down names ``cloud.region=eu-west-1`` with
a share above 0.8; all three slowing down alike names no region (each share
is near 0, under the 0.5 floor). An error spike on one version of three names
that version; a flag variant recorded by OpenFeature's event names the
variant without any ``explain_by``; 1,000 distinct values keep at most the cap
by name, the rest folded under ``__other__`` and counted. Seeded: the outcomes
are exact.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.cli.main import main
from otel_drift._internal.engine import segments as module
from otel_drift._internal.engine.segments import (
    EXPLAINED_FLOOR,
    MAX_SEGMENTS,
    MAX_TRACKED,
    Segments,
)
from otel_drift._internal.engine.what_moved import OTHER_LABEL
from otel_drift._internal.exporters.otlp_json_file import OTLPJsonFileSpanExporter
from otel_drift._internal.semconv import (
    DETECTED_EVENT,
    EVALUATION_SPAN,
    EXPLAINED_BY,
    EXPLAINED_SHARE,
)
from otel_drift._internal.signals.actions import ActionDispatcher, Webhook
from otel_drift._internal.signals.console import ConsoleReporter

MS = 1_000_000
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
WINDOW = 900
MEDIAN_MS, SIGMA = 40.0, 0.35


def _edges() -> list[float]:
    """Latency bins at the reference's deciles (a recorded week, seeded), open at both ends."""
    reference = np.random.default_rng(7).lognormal(np.log(MEDIAN_MS), SIGMA, 20_000)
    return [0.0, *np.quantile(reference, np.linspace(0.1, 0.9, 9)).round(2).tolist(), 1e6]


EDGES = _edges()
LATENCY_BASELINE = "{bins: " + json.dumps(EDGES) + ", fractions: [" + ", ".join(["0.1"] * 10) + "]}"


def _document(explain_by: str | None, watch: str) -> str:
    explain = f"    explain_by: {explain_by}\n" if explain_by is not None else ""
    return (
        "version: 1\n"
        "expectations:\n"
        "  - name: checkout\n"
        "    match: {span_name: POST /checkout, span_kind: server}\n"
        f"    window: {{spans: {WINDOW}}}\n"
        "    min_samples: 300\n"
        "    hysteresis: {raise_after: 1, clear_after: 1}\n"
        f"{explain}"
        "    watch:\n"
        f"{watch}"
    )


LATENCY = f"      latency: {{source: span.duration, unit: ms, baseline: {LATENCY_BASELINE}}}\n"
STATUS = (
    "      status:\n"
    "        source: http.status_class\n"
    "        attribute: [http.response.status_code]\n"
    "        baseline: {categories: {2xx: 0.99, 5xx: 0.01}}\n"
)


class Service:
    """An SDK tracer provider with the drift processor in front of an in-memory exporter."""

    def __init__(self, document: str) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        self.console = io.StringIO()
        self.processor = DriftSpanProcessor(
            loads_expectations(document, path="<explain>.yaml"),
            settings=Settings(flush_interval_s=3600.0),
            tracer_provider=self.provider,
            emit_metrics=False,
        )
        self.processor.engine.add_listener(ConsoleReporter(stream=self.console))
        self.provider.add_span_processor(self.processor)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("opentelemetry.instrumentation.flask")
        self.clock_ns = 1_700_000_000 * 1_000_000_000

    def request(
        self,
        latency_ms: float,
        attributes: dict[str, Any],
        *,
        status: int = 200,
        flag: tuple[str, str] | None = None,
    ) -> None:
        start = self.clock_ns
        self.clock_ns += int(latency_ms * MS) + MS
        span = self.tracer.start_span(
            "POST /checkout",
            kind=SpanKind.SERVER,
            attributes={"http.route": "/checkout", **attributes},
            start_time=start,
        )
        if flag is not None:
            span.add_event(
                "feature_flag.evaluation",
                {"feature_flag.key": flag[0], "feature_flag.result.variant": flag[1]},
            )
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start + int(latency_ms * MS))

    def detected(self) -> list[dict[str, Any]]:
        """The ``drift.detected`` events of the windows closed so far."""
        self.processor.force_flush()
        return [
            {"watch": (e.attributes or {})["drift.attribute"], **dict(e.attributes or {})}
            for span in self.exporter.get_finished_spans()
            if span.name == EVALUATION_SPAN
            for e in span.events
            if e.name == DETECTED_EVENT
        ]

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def service_factory() -> Any:
    made: list[Service] = []

    def make(document: str) -> Service:
        service = Service(document)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


def _latency(rng: np.random.Generator, load: float) -> float:
    """Lognormal around the median, slower as the load (0..1) rises."""
    return float(rng.lognormal(np.log(MEDIAN_MS * (1.0 + 0.1 * load)), SIGMA))


def _serve_regions(service: Service, seed: int, slower: Callable[[str], float]) -> None:
    rng = np.random.default_rng(seed)
    for i in range(WINDOW):
        region = REGIONS[i % 3]
        load = (i % 100) / 100.0
        service.request(_latency(rng, load) * slower(region), {"cloud.region": region})


def _only(events: Sequence[dict[str, Any]], watch: str) -> dict[str, Any]:
    found = [e for e in events if e["watch"] == watch]
    assert len(found) == 1, events
    return found[0]


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_one_slow_region_is_named(
    service_factory: Callable[[str], Service],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On the event, the console line, the webhook's body, ``summary`` and ``report``."""
    service = service_factory(_document("[cloud.region]", LATENCY))
    service.provider.add_span_processor(
        SimpleSpanProcessor(OTLPJsonFileSpanExporter(directory=tmp_path))
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = Webhook(f"http://127.0.0.1:{server.server_address[1]}/drift")
    dispatcher = ActionDispatcher(webhook=hook)
    service.processor.engine.add_listener(dispatcher)
    try:
        _serve_regions(service, 1, lambda region: 2.0 if region == "eu-west-1" else 1.0)
        event = _only(service.detected(), "latency")
        dispatcher.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    assert event["drift.level"] == 2
    assert tuple(event[EXPLAINED_BY]) == ("cloud.region=eu-west-1",)
    (share,) = event[EXPLAINED_SHARE]
    assert share > 0.8
    line = service.console.getvalue()
    assert "explained by cloud.region=eu-west-1" in line, line
    (body,) = _Receiver.bodies
    (explained,) = body["explained_by"]
    assert explained["segment"] == "cloud.region=eu-west-1"
    assert explained["share"] == share and explained["values"] == WINDOW // 3
    assert explained["own_score"] > body["score"] > explained["score_without"]
    assert main(["summary", str(tmp_path)]) == 0
    assert f"explained by cloud.region=eu-west-1 ({100 * share:.0f}%)" in capsys.readouterr().out
    report = tmp_path / "report.html"
    assert main(["report", str(tmp_path), "--output", str(report)]) == 0
    assert "cloud.region=eu-west-1: " in report.read_text()


def test_every_region_slower_names_none(service_factory: Callable[[str], Service]) -> None:
    service = service_factory(_document("[cloud.region]", LATENCY))
    _serve_regions(service, 2, lambda region: 1.35)
    event = _only(service.detected(), "latency")
    assert event["drift.level"] == 2
    assert EXPLAINED_BY not in event, event
    assert "explained by" not in service.console.getvalue()


def test_all_regions_shares_stay_under_the_floor() -> None:
    """The rule behind "names none": every region's share is near 0, not merely < 0.5."""
    service = Service(_document("[cloud.region]", LATENCY))
    try:
        state = service.processor.engine._windows.states[0]
        segments = state.segments
        assert segments is not None
        captured: list[Any] = []
        original = segments.explain

        def every_share(watch: Any) -> Any:
            floor = module.EXPLAINED_FLOOR
            module.EXPLAINED_FLOOR = 0.0
            try:
                captured.extend(original(watch))
            finally:
                module.EXPLAINED_FLOOR = floor
            return ()

        segments.explain = every_share  # type: ignore[method-assign]
        _serve_regions(service, 2, lambda region: 1.35)
        service.processor.force_flush()
        shares = {s.segment: round(s.share, 2) for s in captured}
        assert set(shares) <= {f"cloud.region={r}" for r in REGIONS}
        assert all(share < EXPLAINED_FLOOR / 2 for share in shares.values()), shares
    finally:
        service.close()


def test_status_spike_on_one_version(service_factory: Callable[[str], Service]) -> None:
    service = service_factory(_document("[service.version, http.request.method]", STATUS))
    rng = np.random.default_rng(3)
    versions = ("2.0.4", "2.0.4", "2.1.0")  # the canary serves a third
    for i in range(WINDOW):
        version = versions[i % 3]
        failing = rng.random() < (0.15 if version == "2.1.0" else 0.01)
        service.request(
            _latency(rng, 0.5),
            {"service.version": version, "http.request.method": "POST"},
            status=503 if failing else 200,
        )
    event = _only(service.detected(), "status")
    assert event["drift.level"] >= 1
    # http.request.method has one value (POST): it explains nothing.
    assert tuple(event[EXPLAINED_BY]) == ("service.version=2.1.0",)
    assert event[EXPLAINED_SHARE][0] > 0.8


def test_flag_variant_from_openfeature_event_by_default(
    service_factory: Callable[[str], Service],
) -> None:
    """No ``explain_by``: the flag variant OpenFeature's hook recorded as a span event."""
    service = service_factory(_document(None, LATENCY))
    rng = np.random.default_rng(4)
    for i in range(WINDOW):
        variant = "on" if i % 4 == 0 else "off"
        slower = 2.5 if variant == "on" else 1.0
        service.request(_latency(rng, 0.3) * slower, {}, flag=("new-checkout", variant))
    event = _only(service.detected(), "latency")
    assert tuple(event[EXPLAINED_BY]) == ("feature_flag.result.variant=new-checkout:on",)


def test_explain_by_off_names_nothing(service_factory: Callable[[str], Service]) -> None:
    service = service_factory(_document("[]", LATENCY))
    assert service.processor.engine._windows.states[0].segments is None
    assert service.processor._rows[0].stride == 4  # context, start, end, status: as before
    _serve_regions(service, 1, lambda region: 2.0 if region == "eu-west-1" else 1.0)
    assert EXPLAINED_BY not in _only(service.detected(), "latency")


def test_thousand_values_fold_into_other() -> None:
    """1,000 distinct values: at most ``MAX_TRACKED`` counted by name in the window, the
    ``MAX_SEGMENTS`` busiest ranked, every other value under ``__other__``, counted."""
    document = loads_expectations(_document("[user.id]", LATENCY))
    service = Service(_document("[user.id]", LATENCY))
    try:
        watches = service.processor.engine._windows.states[0].watches
    finally:
        service.close()
    segments = Segments(document.expectations[0].explain_by or (), watches)
    rng = np.random.default_rng(5)
    # Ten heavy users (50 requests each) among 990 light ones (one each), shuffled.
    users = [f"user-{i}" for i in range(10) for _ in range(50)] + [
        f"user-{i}" for i in range(10, 1000)
    ]
    rng.shuffle(users)
    latencies = rng.lognormal(np.log(MEDIAN_MS), SIGMA, len(users))
    for start in range(0, len(users), 300):  # three chunks, as the worker feeds them
        chunk = users[start : start + 300]
        segments.begin([chunk])
        segments.add_numbers(watches[0], latencies[start : start + 300], None)
        segments.end()
    (attribute,) = segments._by_attribute
    assert len(attribute.slots) == MAX_TRACKED + 1
    assert int(attribute.traffic.sum()) == len(users)
    names, matrix = attribute.folded(0)
    assert len(names) == MAX_SEGMENTS + 1 and names[-1] == OTHER_LABEL
    assert all(int(n.split("-")[1]) < 10 for n in names[:-1])  # the busiest, by name
    assert matrix[:-1].sum(axis=1).tolist() == [50.0] * MAX_SEGMENTS
    assert matrix[-1].sum() == len(users) - 50 * MAX_SEGMENTS


def test_a_second_value_takes_the_window_so_far_as_the_first() -> None:
    """Until a second value comes no counts are kept per segment; then the window's own
    counts so far become the first value's, and every later value is counted per segment."""
    service = Service(_document("[cloud.region]", LATENCY))
    try:
        watch = service.processor.engine._windows.states[0].watches[0]
    finally:
        service.close()
    segments = Segments(("cloud.region",), [watch])
    rng = np.random.default_rng(6)
    chunks = [["eu-west-1"] * 300, [REGIONS[i % 3] for i in range(600)]]
    for regions in chunks:
        values = rng.lognormal(np.log(MEDIAN_MS), SIGMA, len(regions))
        segments.begin([regions])
        watch.add_numbers(values, 0, 0)
        segments.add_numbers(watch, values, None)
        segments.end()
    names, matrix = segments._by_attribute[0].folded(0)
    assert names == ["eu-west-1", "us-east-1", "ap-south-1"]
    assert matrix.sum(axis=1).tolist() == [500.0, 200.0, 200.0]
    observed = watch.observed()
    assert observed is not None
    assert matrix.sum(axis=0).tolist() == observed.tolist()
