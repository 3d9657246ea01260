"""One OpenAI call: its span from request to the last chunk, then the engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_drift._internal import feed
from otel_drift._internal import semconv as sc

from .attributes import REQUEST_MODEL, TIME_TO_FIRST_CHUNK, ResponseState

if TYPE_CHECKING:
    from otel_drift import DriftSpanProcessor

_logger = logging.getLogger(__name__)

SCOPE = "otel_drift.instrumentation.openai"


class Calls:
    """Spans and engine feeding for OpenAI calls (one per instrumentor)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        drift_processor: DriftSpanProcessor | None,
    ) -> None:
        from .version import __version__  # noqa: PLC0415

        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        self._processor = drift_processor
        self.errors = 0

    def start(self, attributes: Mapping[str, Any]) -> Call:
        name = f"chat {attributes.get(REQUEST_MODEL, 'unknown')}"
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        return Call(self, span, name, dict(attributes))

    def error(self, where: str) -> None:
        self.errors += 1
        if self.errors <= 3 or self.errors % 1000 == 0:
            _logger.exception("otel-drift: internal error %s (#%d)", where, self.errors)

    def processor(self) -> DriftSpanProcessor | None:
        return self._processor if self._processor is not None else feed.active_processor()


class Call:
    def __init__(self, calls: Calls, span: Span, name: str, attributes: dict[str, Any]) -> None:
        self.calls = calls
        self.span = span
        self.name = name
        self.attributes = attributes
        self.state = ResponseState()
        self.started = time.monotonic_ns()
        self.first_chunk: int | None = None
        self.done = False

    def chunk(self, item: Any) -> None:
        try:
            if self.first_chunk is None:
                self.first_chunk = time.monotonic_ns()
            self.state.read(item)
        except Exception:
            self.calls.error("reading an OpenAI stream chunk")

    def finish(self, error: BaseException | None = None) -> None:
        """End the span once (response read, stream exhausted or closed, or failure)."""
        if self.done:
            return
        self.done = True
        try:
            if error is not None:
                self.span.record_exception(error)
                self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                self.attributes["error.type"] = type(error).__qualname__
            found = self.state.attributes()
            if self.first_chunk is not None:
                found[TIME_TO_FIRST_CHUNK] = (self.first_chunk - self.started) / 1e9
            self.span.set_attributes(found)
            self.attributes.update(found)
            self._observe(time.monotonic_ns() - self.started, error)
        except Exception:
            self.calls.error("finishing an OpenAI span")
        finally:
            self.span.end()

    def _observe(self, duration_ns: int, error: BaseException | None) -> None:
        processor = self.calls.processor()
        if processor is None:
            return
        expectations = feed.expectations_for(
            processor, self.name, SpanKind.CLIENT, SCOPE, self.attributes
        )
        if not expectations:
            return
        status = StatusCode.ERROR if error is not None else StatusCode.UNSET
        for broken in feed.observe_span(
            processor, expectations, self.attributes, duration_ns, status
        ):
            self.span.add_event(
                sc.VIOLATION_EVENT,
                {
                    sc.EXPECTATION: broken.expectation,
                    sc.ATTRIBUTE: broken.watch,
                    sc.RULE: broken.rule,
                },
            )
