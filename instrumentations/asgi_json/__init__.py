"""The shape of an ASGI service's own JSON responses (FastAPI, Starlette), on contrib's server span.

Contrib's ``OpenTelemetryMiddleware`` (which its FastAPI and Starlette
instrumentations put around the app) ends the server span as soon as the last
``http.response.body`` message has gone out, not when the app returns. So this
wraps ``OpenTelemetryMiddleware.__init__`` and puts a small ASGI middleware
right inside it, around the app: it sees every message the app sends, passes
each one on at once, unchanged, and sets ``drift.json.shape`` (see
``otel_drift.instrumentation._web.http_json``) and ``http.response.body.size`` on the
server span just before handing on the last one, while the span still records.

JSON bodies sent in several messages (``StreamingResponse``, or any response
that went through a ``BaseHTTPMiddleware``) are copied up to
``OTEL_DRIFT_JSON_MAX_BYTES`` as they pass, never held back; past the limit
the copy is dropped (``drift.json.skipped=too_large``). Compressed bodies are
not parsed. The request (``receive``) is never touched.

    AsgiJsonShapeInstrumentor().instrument()

Works whether it is instrumented before or after contrib's FastAPI/Starlette
instrumentation: their middleware stack is built at the first request.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from wrapt import wrap_function_wrapper

from .._web import http_json
from .package import _instruments

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_CONTRIB = "opentelemetry.instrumentation.asgi"
_errors = http_json.ErrorLog("the ASGI JSON-shape middleware")
_state = {"enabled": False}


def _header(headers: Any, name: bytes) -> str | None:
    for key, value in headers or ():
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1")
    return None


class _Response:
    """What one response has sent so far; sets the span's attributes at its last body message."""

    __slots__ = ("chunks", "done", "json", "kept", "shapes", "size", "span")

    def __init__(self, span: ReadableSpan) -> None:
        self.span = span
        self.shapes = http_json.shapes_wanted(span)
        self.json = False
        self.size = 0
        self.kept = 0
        self.chunks: list[bytes] | None = []
        self.done = False

    def see(self, message: Message) -> None:
        if self.done:
            return
        kind = message.get("type")
        if kind == "http.response.start":
            headers = message.get("headers")
            self.json = (
                self.shapes
                and http_json.is_json(_header(headers, b"content-type"))
                and not http_json.is_encoded(_header(headers, b"content-encoding"))
            )
            return
        if kind != "http.response.body":
            return
        body = message.get("body") or b""
        self.size += len(body)
        if self.json and self.chunks is not None and body:
            self.kept += len(body)
            if self.kept > http_json.max_bytes():
                self.chunks = None  # too large: drop the copy now, not at the end
            else:
                self.chunks.append(bytes(body))
        if not message.get("more_body", False):
            self.done = True
            self._finish()

    def _finish(self) -> None:
        http_json.set_size(self.span, http_json.RESPONSE_BODY_SIZE, self.size)
        if not self.json:
            return
        if self.chunks is None:
            http_json.skip(self.span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
            return
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        http_json.record_body(self.span, body)


class JsonShapeMiddleware:
    """Put inside contrib's ``OpenTelemetryMiddleware``: passes every message on as it comes."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = None
        try:
            if (
                _state["enabled"]
                and scope.get("type") == "http"
                and scope.get("method") != "HEAD"
                and is_instrumentation_enabled()
            ):
                span = http_json.server_span()
        except Exception:
            _errors()
        if span is None:
            await self.app(scope, receive, send)
            return
        response = _Response(span)

        async def shape_send(message: Message) -> None:
            try:
                response.see(message)
            except Exception:
                response.done = True
                _errors()
            await send(message)

        await self.app(scope, receive, shape_send)


def _init(
    wrapped: Callable[..., None], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    try:
        if args and not isinstance(args[0], JsonShapeMiddleware):
            args = (JsonShapeMiddleware(args[0]), *args[1:])
        elif "app" in kwargs and not isinstance(kwargs["app"], JsonShapeMiddleware):
            kwargs["app"] = JsonShapeMiddleware(kwargs["app"])
    except Exception:
        _errors()
    wrapped(*args, **kwargs)


class AsgiJsonShapeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Puts the shape of an ASGI app's JSON responses on contrib's server spans."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return tuple(_instruments)

    def _instrument(self, **kwargs: Any) -> None:
        # Contrib's ASGI middleware first: without it this raises
        # ModuleNotFoundError and opentelemetry-instrument skips this instrumentor.
        asgi = importlib.import_module(_CONTRIB)
        wrap_function_wrapper(asgi, "OpenTelemetryMiddleware.__init__", _init)
        _state["enabled"] = True
        http_json.wrapping(self, SpanKind.SERVER)

    def _uninstrument(self, **kwargs: Any) -> None:
        asgi = importlib.import_module(_CONTRIB)
        # Middleware stacks already built keep the wrapper; it passes everything through.
        _state["enabled"] = False
        unwrap(asgi.OpenTelemetryMiddleware, "__init__")
        http_json.unwrapping(self)
