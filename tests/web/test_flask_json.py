"""otel-drift's Flask instrumentation: the shape of the service's own JSON responses."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest
from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.trace import SpanKind
from otel_drift.instrumentation._web import http_json
from otel_drift.instrumentation.flask_json import FlaskJsonShapeInstrumentor

from otel_drift._internal import semconv as sc
from otel_drift._internal.expectations.model import JSON_SHAPE_ATTRIBUTE
from tests.support import Pipeline
from tests.web.support import active_pipeline, orders_response_expectation, violations

OWN = orders_response_expectation("/orders")


def _app() -> Flask:
    app = Flask(__name__)

    @app.get("/orders")
    def orders() -> ResponseReturnValue:
        if request.args.get("v2"):
            return jsonify(orders=[{"id": 1, "amount": 12.5}])
        return jsonify(orders=[{"id": 1, "total": 12.5}])

    @app.get("/gzipped")
    def gzipped() -> ResponseReturnValue:
        body = gzip.compress(b'{"orders": []}')
        return Response(body, mimetype="application/json", headers={"Content-Encoding": "gzip"})

    @app.get("/stream")
    def stream() -> ResponseReturnValue:
        return Response((part for part in ("[1,", "2]")), mimetype="application/json")

    return app


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pipeline, Flask]]:
    with active_pipeline(OWN, monkeypatch) as pipeline:
        FlaskJsonShapeInstrumentor().instrument()
        app = _app()
        FlaskInstrumentor().instrument_app(app, tracer_provider=pipeline.provider)  # type: ignore[no-untyped-call]
        try:
            yield pipeline, app
        finally:
            FlaskInstrumentor().uninstrument_app(app)  # type: ignore[no-untyped-call]
            FlaskJsonShapeInstrumentor().uninstrument()


def _server_spans(pipeline: Pipeline) -> list[dict[str, object]]:
    return [
        dict(s.attributes or {})
        for s in pipeline.spans.get_finished_spans()
        if s.kind is SpanKind.SERVER
    ]


def test_own_response_shape_and_size_on_the_server_span(setup: tuple[Pipeline, Flask]) -> None:
    pipeline, app = setup
    client = app.test_client()
    assert client.get("/orders").json == {"orders": [{"id": 1, "total": 12.5}]}
    assert client.get("/orders?v2=1").json == {"orders": [{"id": 1, "amount": 12.5}]}
    good, bad = _server_spans(pipeline)
    assert JSON_SHAPE_ATTRIBUTE in good and sc.JSON_SHAPE_MISSING not in good
    assert good[http_json.RESPONSE_BODY_SIZE] == len(client.get("/orders").data)
    assert bad[sc.JSON_SHAPE_MISSING] == ("orders[].total",)
    assert bad[sc.JSON_SHAPE_ADDED] == ("orders[].amount",)
    assert violations(pipeline, "orders-response", "shape") == {
        "shape.missing": 1,
        "shape.added": 1,
    }


def test_streamed_responses_are_not_read(setup: tuple[Pipeline, Flask]) -> None:
    pipeline, app = setup
    assert app.test_client().get("/stream").data == b"[1,2]"
    (span,) = _server_spans(pipeline)
    assert span[sc.JSON_SKIPPED] == http_json.SKIP_STREAMING
    assert JSON_SHAPE_ATTRIBUTE not in span


def test_compressed_responses_are_measured_not_parsed(setup: tuple[Pipeline, Flask]) -> None:
    pipeline, app = setup
    body = app.test_client().get("/gzipped").data
    assert gzip.decompress(body) == b'{"orders": []}'
    (span,) = _server_spans(pipeline)
    assert span[http_json.RESPONSE_BODY_SIZE] == len(body)
    assert JSON_SHAPE_ATTRIBUTE not in span and sc.JSON_SKIPPED not in span
    assert violations(pipeline, "orders-response", "shape") == {}
