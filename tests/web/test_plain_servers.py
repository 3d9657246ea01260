"""Drift on the server spans of contrib's plain WSGI and ASGI middleware, and of Starlette."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as AsgiMiddleware
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WsgiMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.support import Pipeline, make_pipeline

STATUS = """
version: 1
expectations:
  - name: errors
    match:
      span_kind: server
      scope: {regex: "^opentelemetry[.]instrumentation[.](wsgi|asgi|starlette)$"}
    window: {spans: 100}
    min_samples: 50
    watch:
      status: {source: http.status_class, baseline: {categories: {2xx: 0.99, 5xx: 0.01}}}
      route:
        attribute: http.route
        constraints: {allowed: ["/items/{item}"]}
"""


def _statuses(pipeline: Pipeline) -> list[int]:
    pipeline.processor.force_flush()
    return [w.watches[0].status for w in pipeline.processor.engine.history]


def _wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    failing = environ.get("QUERY_STRING") == "fail=1"
    start_response("500 Error" if failing else "200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _start_response(*_args: Any) -> Callable[[bytes], object]:
    return lambda _data: None


def test_plain_wsgi_error_spike() -> None:
    pipeline = make_pipeline(STATUS)
    app = WsgiMiddleware(_wsgi_app, tracer_provider=pipeline.provider)
    try:
        for number in range(200):
            environ: dict[str, Any] = {"QUERY_STRING": "fail=1" if number >= 100 else ""}
            setup_testing_defaults(environ)
            list(app(environ, _start_response))
        assert _statuses(pipeline) == [0, 2]
    finally:
        pipeline.provider.shutdown()


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    status = 500 if scope.get("query_string") == b"fail=1" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_plain_asgi_error_spike() -> None:
    pipeline = make_pipeline(STATUS)
    app = AsgiMiddleware(_asgi_app, tracer_provider=pipeline.provider)
    try:
        client = TestClient(app)  # not entered: this bare app has no lifespan support
        for number in range(200):
            client.get("/x", params={"fail": 1} if number >= 100 else None)
        assert _statuses(pipeline) == [0, 2]
    finally:
        pipeline.provider.shutdown()


def test_starlette_routes_and_status(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor  # noqa: PLC0415

    async def item(request: Request) -> JSONResponse:
        failing = request.query_params.get("fail") == "1"
        return JSONResponse(
            {"id": request.path_params["item"]}, status_code=500 if failing else 200
        )

    app = Starlette(routes=[Route("/items/{item}", item)])
    pipeline = make_pipeline(STATUS)
    StarletteInstrumentor.instrument_app(app, tracer_provider=pipeline.provider)
    try:
        with TestClient(app) as client:
            for number in range(200):
                client.get(f"/items/{number}", params={"fail": 1} if number >= 100 else None)
        assert _statuses(pipeline) == [0, 2]
        for state in pipeline.processor.engine.watch_states():
            assert not state.violations  # every span had http.route = /items/{item}
    finally:
        StarletteInstrumentor.uninstrument_app(app)
        pipeline.provider.shutdown()
