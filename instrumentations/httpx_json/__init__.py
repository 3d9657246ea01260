"""JSON response shapes of ``httpx`` calls, on contrib's client span.

Contrib's httpx instrumentation wraps ``HTTPTransport.handle_request`` and
ends its span when that returns, before ``Client.send`` reads the body. So
this wraps one level lower, httpcore's ``ConnectionPool.handle_request`` (and
the async pool), which runs inside that span: the JSON body is read there, up
to ``OTEL_DRIFT_JSON_MAX_BYTES``, and handed back byte for byte (see
``body.py``), so the application reads it as if untouched.

Only ``application/json`` and ``+json`` bodies are read; event streams and
JSON lines are never touched. A body larger than the limit is not parsed
(``drift.json.skipped=too_large``) and streams on from where it was.

    HttpxJsonShapeInstrumentor().instrument()

httpcore is wrapped when the application imports it (a post-import hook),
never imported here: httpx with its command-line extras (rich, pygments) is
~12,000 objects that a service which never calls it would carry through
every full garbage collection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from .._hooks import PatchingInstrumentor, require
from .._web import http_json
from .body import aread_up_to, read_up_to
from .package import _instruments

_errors = http_json.ErrorLog("the httpx JSON-shape wrapper")


def _header(headers: Any, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _wanted(request: Any, response: Any) -> tuple[ReadableSpan, int] | None:
    """(span, limit) when this body should be read, else None (skips marked on the span)."""
    span = http_json.client_span()
    if span is None or not is_instrumentation_enabled():
        return None
    sent = _header(getattr(request, "headers", ()), b"content-length")
    http_json.set_size(span, http_json.REQUEST_BODY_SIZE, sent)
    http_json.set_size(
        span, http_json.RESPONSE_BODY_SIZE, _header(response.headers, b"content-length")
    )
    if not http_json.shapes_wanted(span) or not http_json.is_json(
        _header(response.headers, b"content-type")
    ):
        return None
    limit = http_json.max_bytes()
    declared = _header(response.headers, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        http_json.skip(span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
        return None
    return span, limit


def _handle(
    wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    response = wrapped(*args, **kwargs)
    try:
        wanted = _wanted(args[0] if args else kwargs.get("request"), response)
        if wanted is not None:
            span, limit = wanted
            body, response.stream = read_up_to(response.stream, limit)
            if body is None:
                http_json.skip(span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
            else:
                http_json.set_size(span, http_json.RESPONSE_BODY_SIZE, len(body))
                http_json.record_body(span, body)
    except Exception:
        _errors()
    return response


async def _ahandle(
    wrapped: Callable[..., Awaitable[Any]],
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    response = await wrapped(*args, **kwargs)
    try:
        wanted = _wanted(args[0] if args else kwargs.get("request"), response)
        if wanted is not None:
            span, limit = wanted
            body, response.stream = await aread_up_to(response.stream, limit)
            if body is None:
                http_json.skip(span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
            else:
                http_json.set_size(span, http_json.RESPONSE_BODY_SIZE, len(body))
                http_json.record_body(span, body)
    except Exception:
        _errors()
    return response


class HttpxJsonShapeInstrumentor(PatchingInstrumentor):
    """Puts the shape of JSON responses on the client spans of ``httpx``."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return tuple(_instruments)

    def _instrument(self, **kwargs: Any) -> None:
        # Raises ModuleNotFoundError without httpx: opentelemetry-instrument skips this one.
        require("httpx")
        self.patcher.on_import("httpcore", self._wrap)
        http_json.wrapping(self, SpanKind.CLIENT)

    def _wrap(self, httpcore: Any) -> None:
        self.patcher.wrap(httpcore.ConnectionPool, "handle_request", _handle)
        self.patcher.wrap(httpcore.AsyncConnectionPool, "handle_async_request", _ahandle)

    def _uninstrument(self, **kwargs: Any) -> None:
        super()._uninstrument(**kwargs)
        http_json.unwrapping(self)
