"""``explain_by`` on a real Flask service: the region whose requests slowed down is named.

A Flask app on 127.0.0.1, instrumented by contrib's FlaskInstrumentor, tags
its server span with the caller's ``cloud.region`` (as a gateway header
would) and works for the time the request asks for, from a seeded lognormal
(median 5 ms). A first run records the service (otel-drift off) and gives
the latency baseline: the recorded deciles. Then the same service is judged
in windows of 900 requests, three regions in equal traffic, with
``explain_by: [cloud.region]``: eu-west-1 alone working 1.8 times as long makes
the latency drift and names ``cloud.region=eu-west-1`` with a share above
0.8; all three slowing down alike names no region.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.engine.results import WindowEvaluation
from tests.web.servers import require

REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
WINDOW = 900
#: Regions whose requests work longer, and by how much (read by the app).
SLOW: dict[str, float] = {}


def _app() -> Any:
    require("flask")
    import flask  # noqa: PLC0415

    app = flask.Flask("regions")

    @app.get("/checkout")
    def checkout() -> str:
        region = flask.request.headers.get("X-Region", "")
        trace.get_current_span().set_attribute("cloud.region", region)
        time.sleep(float(flask.request.args["ms"]) * SLOW.get(region, 1.0) / 1000)
        return "ok"

    return app


@contextmanager
def _serve(provider: TracerProvider) -> Iterator[str]:
    from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    app = _app()
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)  # type: ignore[no-untyped-call]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        FlaskInstrumentor().uninstrument_app(app)  # type: ignore[no-untyped-call]


def _traffic(base: str, requests: int, seed: int) -> None:
    """``requests`` calls, regions in turn, 4 at a time; work times lognormal, seeded."""
    work = np.random.default_rng(seed).lognormal(np.log(5.0), 0.35, requests)

    def call(index: int) -> None:
        request = urllib.request.Request(
            f"{base}/checkout?ms={work[index]:.3f}",
            headers={"X-Region": REGIONS[index % len(REGIONS)]},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(call, range(requests)))


def _recorded_edges() -> list[float]:
    """The service recorded with otel-drift off: its latency deciles, in ms."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with _serve(provider) as base:
        _traffic(base, 1800, seed=1)
    durations = [
        (s.end_time - s.start_time) / 1e6
        for s in exporter.get_finished_spans()
        if s.end_time is not None and s.start_time is not None
    ]
    provider.shutdown()
    deciles = np.quantile(durations, np.linspace(0.1, 0.9, 9)).round(3).tolist()
    return [0.0, *deciles, 60_000.0]


def _document(edges: list[float]) -> str:
    fractions = ", ".join(["0.1"] * 10)
    return f"""
version: 1
expectations:
  - name: checkout
    match: {{span_kind: server, attributes: {{http.route: /checkout}}}}
    window: {{spans: {WINDOW}}}
    hysteresis: {{raise_after: 1, clear_after: 1}}
    explain_by: [cloud.region]
    watch:
      latency:
        source: span.duration
        baseline: {{bins: {edges}, fractions: [{fractions}]}}
        warning: 0.1
        critical: 0.25
"""


def test_the_region_that_slowed_down_is_named_and_none_when_all_did() -> None:
    edges = _recorded_edges()
    provider = TracerProvider()
    processor = DriftSpanProcessor(
        loads_expectations(_document(edges), path="<regions>.yaml"),
        settings=Settings(flush_interval_s=3600.0),
        tracer_provider=provider,
        emit_metrics=False,
    )
    windows: list[WindowEvaluation] = []
    processor.engine.add_listener(windows.append)
    provider.add_span_processor(processor)
    try:
        with _serve(provider) as base:
            _traffic(base, WINDOW, seed=2)
            processor.force_flush()
            SLOW.update({"eu-west-1": 1.8})
            _traffic(base, WINDOW, seed=3)
            processor.force_flush()
            SLOW.update(dict.fromkeys(REGIONS, 1.8))
            _traffic(base, WINDOW, seed=4)
            processor.force_flush()
    finally:
        SLOW.clear()
        provider.shutdown()
    judged = [(w.watches[0].status, w.watches[0].explained) for w in windows if w.spans == WINDOW]
    assert len(judged) == 3, judged
    one_slow, all_slow = judged[1], judged[2]
    assert one_slow[0] >= 1, judged
    (named,) = one_slow[1]
    assert named.segment == "cloud.region=eu-west-1" and named.share > 0.8, one_slow
    assert all_slow[0] >= 1, judged
    assert all_slow[1] == (), all_slow
