"""The shape of a Flask service's own JSON responses, on contrib's server span.

Wraps ``Flask.process_response``, which runs after the view and before
contrib's Flask instrumentation ends its server span (at teardown), so the
span still records: ``drift.json.shape`` (see ``otel_drift.instrumentation._web.http_json``)
and ``http.response.body.size``. Streamed responses are never read
(``drift.json.skipped=streaming``); others are already whole in memory, and
``get_data()`` leaves them as they are. Compressed bodies are not parsed.

    FlaskJsonShapeInstrumentor().instrument()
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

_errors = http_json.ErrorLog("the Flask JSON-shape wrapper")


def _inspect(response: Any) -> None:
    span = http_json.server_span()
    if span is None or not is_instrumentation_enabled():
        return
    if response.is_streamed:
        if http_json.is_json(response.content_type):
            http_json.skip(span, http_json.SKIP_STREAMING)  # type: ignore[arg-type]
        return
    data = response.get_data()
    http_json.set_size(span, http_json.RESPONSE_BODY_SIZE, len(data))
    if (
        not http_json.shapes_wanted(span)
        or not http_json.is_json(response.content_type)
        or http_json.is_encoded(response.headers.get("Content-Encoding"))
    ):
        return  # not JSON, or compressed (Flask-Compress): not JSON text
    if len(data) > http_json.max_bytes():
        http_json.skip(span, http_json.SKIP_TOO_LARGE)  # type: ignore[arg-type]
        return
    http_json.record_body(span, data)


def _process_response(
    wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    response = wrapped(*args, **kwargs)
    try:
        _inspect(response)
    except Exception:
        _errors()
    return response


class FlaskJsonShapeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Puts the shape of a Flask app's JSON responses on its server spans."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return tuple(_instruments)

    def _instrument(self, **kwargs: Any) -> None:
        # Flask first: without it this raises ModuleNotFoundError and
        # opentelemetry-instrument skips this instrumentor.
        import flask  # noqa: PLC0415

        wrap_function_wrapper(flask, "Flask.process_response", _process_response)
        http_json.wrapping(self, SpanKind.SERVER)

    def _uninstrument(self, **kwargs: Any) -> None:
        import flask  # noqa: PLC0415

        unwrap(flask.Flask, "process_response")
        http_json.unwrapping(self)
