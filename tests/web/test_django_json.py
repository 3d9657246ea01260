"""otel-drift's Django instrumentation: the shape of a Django service's own JSON responses.

A real WSGI server (wsgiref) on 127.0.0.1 in a thread, contrib's Django
instrumentation making the server spans. Django's settings are configured in
this process (no other test configures Django in-process; the Django example
runs in its own process).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from otel_drift.instrumentation._web import http_json

from otel_drift._internal import semconv as sc
from otel_drift._internal.expectations.model import JSON_SHAPE_ATTRIBUTE
from tests.support import Pipeline
from tests.web.servers import require
from tests.web.support import (
    active_pipeline,
    orders_response_expectation,
    receive_streamed,
    reset_limits,
    violations,
)

# Django's route for a path("orders", ...) is "orders": no leading slash.
OWN = orders_response_expectation("orders")

BIG: dict[str, object] = {"items": [{"id": i, "name": "x" * 50} for i in range(200)]}
_release = threading.Event()


def orders(request: Any) -> Any:
    from django.http import JsonResponse  # noqa: PLC0415

    version = request.GET.get("v", "1")
    if version == "2":
        return JsonResponse({"orders": [{"id": 1, "amount": 12.5}]})
    if version == "3":
        return JsonResponse({"orders": [{"id": "1", "total": 12.5}]})
    return JsonResponse({"orders": [{"id": 1, "total": 12.5}]})


def stream(request: Any) -> Any:
    from django.http import StreamingHttpResponse  # noqa: PLC0415

    def parts() -> Iterator[bytes]:
        yield b'{"items": ['
        _release.wait(10)  # the rest only once the client has the first part
        yield b"1, 2]}"

    return StreamingHttpResponse(parts(), content_type="application/json")


def big(request: Any) -> Any:
    from django.http import JsonResponse  # noqa: PLC0415

    return JsonResponse(BIG)


def urls() -> list[Any]:
    from django.urls import path  # noqa: PLC0415

    return [path("orders", orders), path("stream", stream), path("big", big)]


urlpatterns: list[Any] = []


def _configure() -> None:
    from django.conf import settings  # noqa: PLC0415

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only",
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
        )
        urlpatterns[:] = urls()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pipeline, str]]:
    require("django")
    require("httpx")
    _configure()
    from django.core.wsgi import get_wsgi_application  # noqa: PLC0415
    from opentelemetry.instrumentation.django import DjangoInstrumentor  # noqa: PLC0415
    from otel_drift.instrumentation.django_json import DjangoJsonShapeInstrumentor  # noqa: PLC0415

    _release.clear()
    with active_pipeline(OWN, monkeypatch) as pipeline:
        # Ours first this time: it wraps contrib's middleware class, not a list entry.
        DjangoJsonShapeInstrumentor().instrument()
        DjangoInstrumentor().instrument(tracer_provider=pipeline.provider)
        try:
            with wsgi_server(get_wsgi_application()) as base:
                yield pipeline, base
        finally:
            DjangoInstrumentor().uninstrument()
            DjangoJsonShapeInstrumentor().uninstrument()


def _server_spans(pipeline: Pipeline, route: str) -> list[dict[str, Any]]:
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    return [
        dict(s.attributes or {})
        for s in pipeline.spans.get_finished_spans()
        if s.kind is SpanKind.SERVER and (s.attributes or {}).get("http.route") == route
    ]


def test_shape_changes_land_on_their_own_server_span(served: tuple[Pipeline, str]) -> None:
    import httpx  # noqa: PLC0415

    pipeline, base = served
    with httpx.Client(base_url=base) as client:
        good = client.get("/orders")
        assert client.get("/orders", params={"v": 2}).json() == {
            "orders": [{"id": 1, "amount": 12.5}]
        }
        client.get("/orders", params={"v": 3})
    first, second, third = _server_spans(pipeline, "orders")
    assert JSON_SHAPE_ATTRIBUTE in first and sc.JSON_SHAPE_MISSING not in first
    assert first[http_json.RESPONSE_BODY_SIZE] == len(good.content)
    assert second[sc.JSON_SHAPE_MISSING] == ("orders[].total",)
    assert second[sc.JSON_SHAPE_ADDED] == ("orders[].amount",)
    assert third[sc.JSON_SHAPE_CHANGED] == ("orders[].id",)
    assert violations(pipeline, "orders-response", "shape") == {
        "shape.missing": 1,
        "shape.added": 1,
        "shape.type": 1,
    }


def test_streaming_response_is_not_read_and_reaches_the_client_as_sent(
    served: tuple[Pipeline, str],
) -> None:
    pipeline, base = served
    received = receive_streamed(base, "/stream", _release)
    assert received[0] == b'{"items": ['
    assert b"".join(received) == b'{"items": [1, 2]}'
    (span,) = _server_spans(pipeline, "stream")
    assert span[sc.JSON_SKIPPED] == http_json.SKIP_STREAMING
    assert JSON_SHAPE_ATTRIBUTE not in span


def test_oversize_body_skipped_and_sent_whole(
    served: tuple[Pipeline, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx  # noqa: PLC0415

    pipeline, base = served
    monkeypatch.setenv("OTEL_DRIFT_JSON_MAX_BYTES", "1000")
    reset_limits()
    try:
        with httpx.Client(base_url=base) as client:
            answer = client.get("/big")
    finally:
        reset_limits()
    assert answer.json() == BIG
    (span,) = _server_spans(pipeline, "big")
    assert span[sc.JSON_SKIPPED] == http_json.SKIP_TOO_LARGE
    assert span[http_json.RESPONSE_BODY_SIZE] == len(answer.content) > 1000
    assert JSON_SHAPE_ATTRIBUTE not in span
    assert json.loads(answer.content) == BIG


def test_uninstrument_stops_recording(served: tuple[Pipeline, str]) -> None:
    import httpx  # noqa: PLC0415
    from otel_drift.instrumentation.django_json import DjangoJsonShapeInstrumentor  # noqa: PLC0415

    pipeline, base = served
    with httpx.Client(base_url=base) as client:
        client.get("/orders")
        DjangoJsonShapeInstrumentor().uninstrument()
        client.get("/orders", params={"v": 2})
        DjangoJsonShapeInstrumentor().instrument()  # the fixture uninstruments it again
    before, after = _server_spans(pipeline, "orders")
    assert JSON_SHAPE_ATTRIBUTE in before
    assert not any(key.startswith("drift.") for key in after)
    assert http_json.RESPONSE_BODY_SIZE not in after
