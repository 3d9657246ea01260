"""JSON response shapes of ``requests`` calls, on contrib's client span.

Wraps ``HTTPAdapter.send``, which ``Session.send`` calls inside the client
span of ``opentelemetry-instrumentation-requests``; so the shape attributes
land on that span while it still records. Needs contrib's requests
instrumentation (no client span, nothing recorded).

Only non-streamed bodies are read (``requests`` reads those whole anyway, and
caches them: the application gets the same bytes); ``stream=True`` calls are
marked ``drift.json.skipped=streaming`` and left untouched.

    RequestsJsonShapeInstrumentor().instrument()

``requests`` is wrapped when the application imports it (a post-import
hook), never imported here: a service that has it installed but never calls
it does not pay its ~9,000 objects in every full garbage collection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind

from .._hooks import PatchingInstrumentor, require
from .._web import http_json
from .package import _instruments

_errors = http_json.ErrorLog("the requests JSON-shape wrapper")


def _inspect(request: Any, response: Any, stream: bool) -> None:
    span = http_json.client_span()
    if span is None or not is_instrumentation_enabled():
        return
    body = getattr(request, "body", None)
    if isinstance(body, bytes | str):
        http_json.set_size(span, http_json.REQUEST_BODY_SIZE, len(body))
    declared = response.headers.get("Content-Length")
    http_json.set_size(span, http_json.RESPONSE_BODY_SIZE, declared)
    if not http_json.shapes_wanted(span) or not http_json.is_json(
        response.headers.get("Content-Type")
    ):
        return
    if stream:
        http_json.skip(span, http_json.SKIP_STREAMING)  # type: ignore[arg-type]
        return
    limit = http_json.max_bytes()
    if declared is not None and declared.isdigit() and int(declared) > limit:
        http_json.skip(span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
        return
    # Not streamed: Session.send reads .content right after this anyway; it is cached.
    content = response.content
    if content is None or len(content) > limit:
        http_json.skip(span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
        return
    http_json.set_size(span, http_json.RESPONSE_BODY_SIZE, len(content))
    http_json.record_body(span, content)


def _send(
    wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    response = wrapped(*args, **kwargs)
    try:
        request = args[0] if args else kwargs.get("request")
        _inspect(request, response, bool(kwargs.get("stream", False)))
    except Exception:
        _errors()
    return response


class RequestsJsonShapeInstrumentor(PatchingInstrumentor):
    """Puts the shape of JSON responses on the client spans of ``requests``."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return tuple(_instruments)

    def _instrument(self, **kwargs: Any) -> None:
        # Raises ModuleNotFoundError without requests: opentelemetry-instrument skips this one.
        require("requests")
        self.patcher.on_import("requests.adapters", self._wrap)
        http_json.wrapping(self, SpanKind.CLIENT)

    def _wrap(self, adapters: Any) -> None:
        self.patcher.wrap(adapters.HTTPAdapter, "send", _send)

    def _uninstrument(self, **kwargs: Any) -> None:
        super()._uninstrument(**kwargs)
        http_json.unwrapping(self)
