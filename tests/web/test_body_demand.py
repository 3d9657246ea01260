"""Bodies are read only for what the attached processor's expectations watch.

A service whose expectations watch latency and status (the demo's) must not
pay for parsing its JSON answers; nor must a service with otel-drift
installed but no processor attached (``OTEL_DRIFT_EXPECTATIONS`` unset).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from otel_drift.instrumentation._web import http_json
from otel_drift.instrumentation.flask_json import FlaskJsonShapeInstrumentor

from otel_drift import loads_expectations
from otel_drift._internal import feed
from otel_drift._internal import semconv as sc
from otel_drift._internal.expectations.model import JSON_SHAPE_ATTRIBUTE
from tests.web.support import (
    UPSTREAM_SHAPE_ONLY,
    active_pipeline,
    orders_response_expectation,
)

BODY_ATTRIBUTES = (JSON_SHAPE_ATTRIBUTE, http_json.RESPONSE_BODY_SIZE, sc.JSON_SKIPPED)

LATENCY_ONLY = """
version: 1
expectations:
  - name: orders
    match: {span_kind: server, attributes: {http.route: /orders}}
    watch:
      latency:
        source: span.duration
        baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}
"""

SIZE_ONLY = """
version: 1
expectations:
  - name: orders
    match: {span_kind: server}
    watch:
      size:
        attribute: http.response.body.size
        constraints: {min: 1}
"""


def _app() -> Flask:
    app = Flask(__name__)

    @app.get("/orders")
    def orders() -> ResponseReturnValue:
        return jsonify(orders=[{"id": 1, "total": 12.5}])

    return app


@contextmanager
def _served(provider: TracerProvider) -> Iterator[Flask]:
    FlaskJsonShapeInstrumentor().instrument()
    app = _app()
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)  # type: ignore[no-untyped-call]
    try:
        yield app
    finally:
        FlaskInstrumentor().uninstrument_app(app)  # type: ignore[no-untyped-call]
        FlaskJsonShapeInstrumentor().uninstrument()


def _server_span(spans: InMemorySpanExporter) -> dict[str, object]:
    (span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    return dict(span.attributes or {})


def _never_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object) -> None:
        raise AssertionError("parsed a body that no watch reads")

    monkeypatch.setattr(http_json, "record_document", fail)


def test_no_processor_attached_no_body_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "_active", None)
    _never_parse(monkeypatch)
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with _served(provider) as app:
        assert app.test_client().get("/orders").json == {"orders": [{"id": 1, "total": 12.5}]}
    span = _server_span(spans)
    assert not [key for key in BODY_ATTRIBUTES if key in span]


@pytest.mark.parametrize(
    "expectations", [LATENCY_ONLY, UPSTREAM_SHAPE_ONLY], ids=["latency", "client"]
)
def test_expectations_that_read_no_server_body(
    expectations: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _never_parse(monkeypatch)
    with active_pipeline(expectations, monkeypatch) as pipeline, _served(pipeline.provider) as app:
        assert app.test_client().get("/orders").status_code == 200
        span = _server_span(pipeline.spans)
    assert not [key for key in BODY_ATTRIBUTES if key in span]


def test_a_size_watch_measures_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    _never_parse(monkeypatch)
    with active_pipeline(SIZE_ONLY, monkeypatch) as pipeline, _served(pipeline.provider) as app:
        body = app.test_client().get("/orders").data
        span = _server_span(pipeline.spans)
    assert span[http_json.RESPONSE_BODY_SIZE] == len(body)
    assert JSON_SHAPE_ATTRIBUTE not in span


def test_demand_follows_the_attached_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    with active_pipeline(orders_response_expectation("/orders"), monkeypatch):
        assert http_json.demand() == http_json.BodyDemand(shapes=frozenset({SpanKind.SERVER}))
    with active_pipeline(SIZE_ONLY, monkeypatch):
        assert http_json.demand() == http_json.BodyDemand(sizes=frozenset({SpanKind.SERVER}))
    monkeypatch.setattr(feed, "_active", None)
    assert http_json.demand() == http_json.BodyDemand()


def test_an_expectation_of_any_kind_reads_both() -> None:
    any_kind = UPSTREAM_SHAPE_ONLY.replace("match: {span_kind: client}", "match: {span_name: GET}")
    found = http_json.BodyDemand.of(loads_expectations(any_kind))
    assert found.shapes == {SpanKind.SERVER, SpanKind.CLIENT} and not found.sizes
