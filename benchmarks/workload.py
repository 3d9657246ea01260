"""The spans and expectations the in-process sections feed otel-drift with.

The span is shaped like the server span of contrib's Flask instrumentation
(old HTTP semantic conventions, the default without
``OTEL_SEMCONV_STABILITY_OPT_IN``): kind SERVER, the Flask scope, a handful of
attributes set at start and the status code set just before the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift.expectations import ExpectationsFile

FLASK_SCOPE = "opentelemetry.instrumentation.flask"
ROUTE = "/checkout"
OTHER_ROUTE = "/health"

#: One watched value of each source kind; ``expectations_json`` cycles through
#: them (with distinct names) for any number of watched values.
_WATCH_KINDS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "latency",
        {
            "source": "span.duration",
            "unit": "ms",
            "baseline": {
                "bins": [0, 10, 25, 50, 100, 250, 1000],
                "fractions": [0.20, 0.45, 0.25, 0.07, 0.02, 0.01],
            },
        },
    ),
    (
        "status",
        {
            "attribute": ["http.response.status_code", "http.status_code"],
            "baseline": {"categories": {"200": 0.97, "404": 0.02, "500": 0.01}},
        },
    ),
    (
        "method",
        {"attribute": "http.method", "baseline": {"categories": {"GET": 0.9, "POST": 0.1}}},
    ),
    (
        "status_class",
        {
            "source": "http.status_class",
            "baseline": {"categories": {"2xx": 0.97, "4xx": 0.02, "5xx": 0.01}},
        },
    ),
    (
        "port",
        {
            "attribute": "net.host.port",
            "baseline": {"bins": [0, 1024, 65536], "fractions": [0.1, 0.9]},
        },
    ),
)


def watches(count: int) -> dict[str, dict[str, Any]]:
    """``count`` watched values: latency, status, method, status class, port, then again."""
    chosen: dict[str, dict[str, Any]] = {}
    for i in range(count):
        name, spec = _WATCH_KINDS[i % len(_WATCH_KINDS)]
        chosen[name if i < len(_WATCH_KINDS) else f"{name}_{i}"] = spec
    return chosen


def route(i: int) -> str:
    """Route of the i-th declared expectation; the 0th is the one the workload hits."""
    return ROUTE if i == 0 else f"/api/v1/resource{i}"


def expectations_json(
    expectations: int = 1, watched: int = 2, *, extra: dict[str, Any] | None = None
) -> str:
    """An expectations file: ``expectations`` server-span expectations, one per http.route."""
    document = {
        "version": 1,
        "expectations": [
            {
                "name": f"route{i}",
                "match": {"span_kind": "server", "attributes": {"http.route": route(i)}},
                "window": {"spans": 1000},
                "min_samples": 200,
                "watch": {**watches(watched), **(extra or {})},
            }
            for i in range(expectations)
        ],
    }
    return json.dumps(document)


def load(text: str) -> ExpectationsFile:
    return loads_expectations(text, path="<benchmark>.json")


class CountingExporter(SpanExporter):
    """Exports nowhere; counts spans so a benchmark can tell that none were dropped."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass
class Pipeline:
    """An SDK TracerProvider exporting through a BatchSpanProcessor, maybe with otel-drift."""

    provider: TracerProvider
    tracer: Tracer
    exporter: CountingExporter
    drift: DriftSpanProcessor | None

    def shutdown(self) -> None:
        self.provider.shutdown()


#: The batch processor's queue is made large enough that a tight benchmark loop
#: never fills it: a full queue logs a warning per span, which would swamp the
#: cost being measured and is not the steady state of a healthy service.
BATCH_QUEUE = 1 << 16


def pipeline(
    expectations: ExpectationsFile | None = None, settings: Settings | None = None
) -> Pipeline:
    """The SDK as ``opentelemetry-instrument`` builds it; otel-drift added first when given."""
    provider = TracerProvider()
    drift = None
    if expectations is not None:
        # Evaluation spans go to this provider, as they would in a service;
        # metrics go to the global (no-op) meter: their collection is periodic
        # and not per span.
        drift = DriftSpanProcessor(expectations, settings=settings, tracer_provider=provider)
        provider.add_span_processor(drift)
    exporter = CountingExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=BATCH_QUEUE))
    return Pipeline(provider, provider.get_tracer(FLASK_SCOPE), exporter, drift)


def make_spans(
    tracer: Tracer, count: int, route_: str = ROUTE, kind: SpanKind = SpanKind.SERVER
) -> None:
    """What a Flask request does to its server span, ``count`` times."""
    attributes: dict[str, AttributeValue] = {
        "http.method": "GET",
        "http.scheme": "http",
        "http.target": route_,
        "http.route": route_,
        "net.host.port": 8000,
    }
    name = f"GET {route_}"
    for _ in range(count):
        span = tracer.start_span(name, kind=kind, attributes=attributes)
        span.set_attribute("http.status_code", 200)
        span.end()


def finished_span(route_: str = ROUTE, kind: SpanKind = SpanKind.SERVER) -> ReadableSpan:
    """One finished span of the usual shape, to hand to ``on_end`` directly."""
    provider = TracerProvider()
    tracer = provider.get_tracer(FLASK_SCOPE)
    span = tracer.start_span(
        f"GET {route_}",
        kind=kind,
        attributes={
            "http.method": "GET",
            "http.scheme": "http",
            "http.target": route_,
            "http.route": route_,
            "net.host.port": 8000,
        },
    )
    span.set_attribute("http.status_code", 200)
    span.end()
    assert isinstance(span, ReadableSpan)
    return span
