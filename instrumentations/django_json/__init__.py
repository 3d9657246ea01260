"""The shape of a Django service's own JSON responses, on contrib's server span.

Contrib's Django instrumentation puts its middleware first in ``MIDDLEWARE``
and ends the server span in that middleware's ``process_response``, after
every other middleware and the view. This wraps that ``process_response``:
just before it runs, the response is complete and the span still records, so
``drift.json.shape`` (see ``otel_drift.instrumentation._web.http_json``) and
``http.response.body.size`` go on it. Works under WSGI and ASGI, whichever
instrumentor runs first. ``StreamingHttpResponse`` and ``FileResponse``
bodies are never read (``drift.json.skipped=streaming`` for JSON ones);
others are already whole in memory, and ``response.content`` leaves them as
they are. Compressed bodies are not parsed.

    DjangoJsonShapeInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.trace import SpanKind
from wrapt import wrap_function_wrapper

from .._web import http_json
from .package import _instruments

_errors = http_json.ErrorLog("the Django JSON-shape wrapper")

#: Contrib's Django middleware (module, class): the one that ends the server span.
_MIDDLEWARE = (
    "opentelemetry.instrumentation.django.middleware.otel_middleware",
    "_DjangoMiddleware",
)


def _inspect(request: Any, response: Any) -> None:
    span = http_json.server_span()
    if span is None or not is_instrumentation_enabled() or request.method == "HEAD":
        return
    content_type = response.get("Content-Type")
    if response.streaming:
        if http_json.is_json(content_type):
            http_json.skip(span, http_json.SKIP_STREAMING)  # type: ignore[arg-type]
        return
    data = response.content
    http_json.set_size(span, http_json.RESPONSE_BODY_SIZE, len(data))
    if (
        not http_json.shapes_wanted(span)
        or not http_json.is_json(content_type)
        or http_json.is_encoded(response.get("Content-Encoding"))
    ):
        return
    if len(data) > http_json.max_bytes():
        http_json.skip(span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
        return
    http_json.record_body(span, data)


def _request_response(request: Any, response: Any) -> tuple[Any, Any]:
    return request, response


def _process_response(
    wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        _inspect(*_request_response(*args, **kwargs))
    except Exception:
        _errors()
    return wrapped(*args, **kwargs)


class DjangoJsonShapeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Puts the shape of a Django app's JSON responses on contrib's server spans."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return tuple(_instruments)

    def _instrument(self, **kwargs: Any) -> None:
        # Django (and contrib's Django instrumentation) first: without them this
        # raises ModuleNotFoundError and opentelemetry-instrument skips this one.
        import django  # noqa: PLC0415, F401

        module, name = _MIDDLEWARE
        wrap_function_wrapper(module, f"{name}.process_response", _process_response)
        http_json.wrapping(self, SpanKind.SERVER)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib  # noqa: PLC0415

        module, name = _MIDDLEWARE
        unwrap(getattr(importlib.import_module(module), name), "process_response")
        http_json.unwrapping(self)
