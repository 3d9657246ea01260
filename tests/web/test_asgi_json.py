"""otel-drift's ASGI instrumentation: the shape of a FastAPI service's own JSON responses.

A real uvicorn server on 127.0.0.1 (in a thread), contrib's FastAPI
instrumentation making the server spans.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

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

OWN = orders_response_expectation("/orders")

BIG: dict[str, object] = {"items": [{"id": i, "name": "x" * 50} for i in range(200)]}
_release = threading.Event()


def _app() -> Any:
    from fastapi import FastAPI  # noqa: PLC0415
    from fastapi.responses import PlainTextResponse, StreamingResponse  # noqa: PLC0415

    app = FastAPI()

    @app.get("/orders")
    async def orders(v: int = 1) -> dict[str, object]:
        if v == 2:  # total renamed amount
            return {"orders": [{"id": 1, "amount": 12.5}]}
        if v == 3:  # id a string
            return {"orders": [{"id": "1", "total": 12.5}]}
        return {"orders": [{"id": 1, "total": 12.5}]}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            yield b'{"items": ['
            # The rest only once the client has the first part: a middleware
            # that held bytes back would time out here.
            for _ in range(1000):
                if _release.is_set():
                    break
                await asyncio.sleep(0.01)
            yield b"1, 2"
            yield b"]}"

        return StreamingResponse(parts(), media_type="application/json")

    @app.get("/big")
    async def big() -> dict[str, object]:
        return BIG

    @app.get("/text")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("hello")

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(app: Any) -> Iterator[str]:
    import uvicorn  # noqa: PLC0415

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pipeline, str]]:
    for module in ("fastapi", "uvicorn", "httpx"):
        require(module)
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415
    from otel_drift.instrumentation.asgi_json import AsgiJsonShapeInstrumentor  # noqa: PLC0415

    _release.clear()
    with active_pipeline(OWN, monkeypatch) as pipeline:
        app = _app()
        # Contrib's first: the middleware stack is built at the first request,
        # so the order does not matter.
        FastAPIInstrumentor.instrument_app(app, tracer_provider=pipeline.provider)
        AsgiJsonShapeInstrumentor().instrument()
        try:
            with uvicorn_server(app) as base:
                yield pipeline, base
        finally:
            AsgiJsonShapeInstrumentor().uninstrument()
            FastAPIInstrumentor.uninstrument_app(app)


def _server_spans(pipeline: Pipeline, route: str, count: int = 1) -> list[dict[str, Any]]:
    """The server spans of ``route``, once ``count`` have ended.

    Contrib ends the span just after the last body message went out: the
    client can have the whole answer a moment before the span is finished.
    """
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    deadline = time.monotonic() + 10
    while True:
        found = [
            dict(s.attributes or {})
            for s in pipeline.spans.get_finished_spans()
            if s.kind is SpanKind.SERVER and (s.attributes or {}).get("http.route") == route
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def test_shape_changes_land_on_their_own_server_span(served: tuple[Pipeline, str]) -> None:
    import httpx  # noqa: PLC0415

    pipeline, base = served
    with httpx.Client(base_url=base) as client:
        good = client.get("/orders")
        renamed = client.get("/orders", params={"v": 2})
        assert client.get("/orders", params={"v": 3}).status_code == 200
        assert client.get("/text").text == "hello"
    assert renamed.json() == {"orders": [{"id": 1, "amount": 12.5}]}
    first, second, third = _server_spans(pipeline, "/orders", 3)
    # Set while contrib's span was still open (an ended span drops attributes).
    assert JSON_SHAPE_ATTRIBUTE in first and sc.JSON_SHAPE_MISSING not in first
    assert first[http_json.RESPONSE_BODY_SIZE] == len(good.content)
    assert second[sc.JSON_SHAPE_MISSING] == ("orders[].total",)
    assert second[sc.JSON_SHAPE_ADDED] == ("orders[].amount",)
    assert third[sc.JSON_SHAPE_CHANGED] == ("orders[].id",)
    assert len({first[JSON_SHAPE_ATTRIBUTE], second[JSON_SHAPE_ATTRIBUTE]}) == 2
    (text,) = _server_spans(pipeline, "/text")
    assert text[http_json.RESPONSE_BODY_SIZE] == 5 and JSON_SHAPE_ATTRIBUTE not in text
    assert violations(pipeline, "orders-response", "shape") == {
        "shape.missing": 1,
        "shape.added": 1,
        "shape.type": 1,
    }


def test_streamed_json_reaches_the_client_as_sent(served: tuple[Pipeline, str]) -> None:
    pipeline, base = served
    received = receive_streamed(base, "/stream", _release)
    assert received[0] == b'{"items": ['
    assert b"".join(received) == b'{"items": [1, 2]}'
    (span,) = _server_spans(pipeline, "/stream")
    assert span[http_json.RESPONSE_BODY_SIZE] == len(b'{"items": [1, 2]}')
    assert JSON_SHAPE_ATTRIBUTE in span and sc.JSON_SKIPPED not in span


def test_oversize_body_skipped_and_sent_whole(
    served: tuple[Pipeline, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx  # noqa: PLC0415

    pipeline, base = served
    monkeypatch.setenv("OTEL_DRIFT_JSON_MAX_BYTES", "1000")
    reset_limits()
    try:
        with httpx.Client(base_url=base) as client:
            assert client.get("/big").json() == BIG
    finally:
        reset_limits()
    (span,) = _server_spans(pipeline, "/big")
    assert span[sc.JSON_SKIPPED] == http_json.SKIP_TOO_LARGE
    assert span[http_json.RESPONSE_BODY_SIZE] == len(json.dumps(BIG, separators=(",", ":")))
    assert JSON_SHAPE_ATTRIBUTE not in span


def test_uninstrument_stops_recording(served: tuple[Pipeline, str]) -> None:
    import httpx  # noqa: PLC0415
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware  # noqa: PLC0415
    from otel_drift.instrumentation.asgi_json import (  # noqa: PLC0415
        AsgiJsonShapeInstrumentor,
        JsonShapeMiddleware,
    )

    pipeline, base = served
    with httpx.Client(base_url=base) as client:
        client.get("/orders")
        AsgiJsonShapeInstrumentor().uninstrument()
        # The app's middleware stack was built while instrumented: it passes through now.
        assert client.get("/orders", params={"v": 2}).status_code == 200
    before, after = _server_spans(pipeline, "/orders", 2)
    assert JSON_SHAPE_ATTRIBUTE in before
    assert not any(key.startswith("drift.") for key in after)
    assert http_json.RESPONSE_BODY_SIZE not in after

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        pass

    assert not isinstance(OpenTelemetryMiddleware(bare).app, JsonShapeMiddleware)


def test_no_op_when_the_server_span_does_not_record(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("fastapi", "uvicorn", "httpx"):
        require(module)
    import httpx  # noqa: PLC0415
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF  # noqa: PLC0415
    from otel_drift.instrumentation.asgi_json import AsgiJsonShapeInstrumentor  # noqa: PLC0415

    def fail(*_args: object) -> None:
        raise AssertionError("read a body for a span that does not record")

    monkeypatch.setattr(http_json, "record_body", fail)
    monkeypatch.setattr(http_json, "set_size", fail)
    app = _app()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=TracerProvider(sampler=ALWAYS_OFF))
    AsgiJsonShapeInstrumentor().instrument()
    try:
        # An attached processor that watches these answers' shape: only the
        # sampler keeps the body from being read.
        with (
            active_pipeline(OWN, monkeypatch),
            uvicorn_server(app) as base,
            httpx.Client(base_url=base) as client,
        ):
            assert client.get("/orders").json() == {"orders": [{"id": 1, "total": 12.5}]}
    finally:
        AsgiJsonShapeInstrumentor().uninstrument()
        FastAPIInstrumentor.uninstrument_app(app)


def test_starlette_app_through_a_user_middleware_and_gzip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starlette: bodies re-sent in several messages still have their shape; gzip is left alone."""
    require("starlette")
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor  # noqa: PLC0415
    from otel_drift.instrumentation.asgi_json import AsgiJsonShapeInstrumentor  # noqa: PLC0415
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.middleware import Middleware  # noqa: PLC0415
    from starlette.middleware.base import BaseHTTPMiddleware  # noqa: PLC0415
    from starlette.middleware.gzip import GZipMiddleware  # noqa: PLC0415
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import JSONResponse, Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415
    from starlette.testclient import TestClient  # noqa: PLC0415

    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"orders": [{"id": 1, "total": 12.5}]})

    async def passing(request: Request, call_next: Any) -> Response:
        # BaseHTTPMiddleware re-sends the body as a stream: body, then an empty last message.
        response: Response = await call_next(request)
        return response

    with active_pipeline(OWN, monkeypatch) as pipeline:
        AsgiJsonShapeInstrumentor().instrument()
        apps = {
            "plain": Starlette(routes=[Route("/orders", orders)]),
            "user-middleware": Starlette(
                routes=[Route("/orders", orders)],
                middleware=[Middleware(BaseHTTPMiddleware, dispatch=passing)],
            ),
            "gzip": Starlette(
                routes=[Route("/orders", orders)],
                middleware=[Middleware(GZipMiddleware, minimum_size=1)],
            ),
        }
        try:
            for app in apps.values():
                StarletteInstrumentor.instrument_app(app, tracer_provider=pipeline.provider)
                with TestClient(app) as client:
                    answer = client.get("/orders", headers={"Accept-Encoding": "gzip"})
                    assert answer.json() == {"orders": [{"id": 1, "total": 12.5}]}
        finally:
            AsgiJsonShapeInstrumentor().uninstrument()
            for app in apps.values():
                StarletteInstrumentor.uninstrument_app(app)
        plain, user_middleware, gzipped = _server_spans(pipeline, "/orders", 3)
    assert plain[JSON_SHAPE_ATTRIBUTE] == user_middleware[JSON_SHAPE_ATTRIBUTE]
    assert sc.JSON_SHAPE_MISSING not in user_middleware
    assert JSON_SHAPE_ATTRIBUTE not in gzipped and sc.JSON_SKIPPED not in gzipped
    # The compressed bytes' size, not the JSON text's.
    assert gzipped[http_json.RESPONSE_BODY_SIZE] != plain[http_json.RESPONSE_BODY_SIZE] > 0
