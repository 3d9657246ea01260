"""OTLP/JSON traces for the ``summary`` and ``report`` tests, written by the real exporter.

Spans are made with the OpenTelemetry SDK under a resource naming the process
(``service.name``, ``service.instance.id``) and written by
``OTLPJsonFileSpanExporter``, so the files have exactly the shape a service
writes; their attributes and ``drift.detected`` events are those of
``signals/evaluation_spans.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.util.types import AttributeValue

from otel_drift._internal import semconv as sc
from otel_drift._internal.exporters.otlp_json_file import OTLPJsonFileSpanExporter

T0 = 1_764_936_000 * 10**9  # 2025-12-05 12:00:00 UTC
MINUTE = 60 * 10**9


@dataclass
class Value:
    """One watched value's verdict in one window."""

    watch: str
    status: int
    score: float | None
    method: str = "psi"
    samples: int = 1000
    level: int | None = None
    p_value: float | None = None
    top_changes: Sequence[str] = ()
    reason: str | None = None
    #: Left off the span's attributes: in drift.watches.compact, or nowhere.
    omitted: bool = False


@dataclass
class Window:
    minute: int
    values: list[Value]
    expectation: str = "checkout"
    #: False: an older span with omitted values and no compact attribute.
    compact: bool = True
    spans: int = 1000
    extra: dict[str, AttributeValue] = field(default_factory=dict)


def _attributes(window: Window) -> dict[str, AttributeValue]:
    status = max(v.status for v in window.values)
    attributes: dict[str, AttributeValue] = {
        sc.EXPECTATION: window.expectation,
        sc.STATUS: status,
        sc.STATUS_NAME: sc.STATUS_NAMES[status],
        sc.WINDOW_SPANS: window.spans,
        sc.WINDOW_PARTIAL: False,
        sc.WATCHES: len(window.values),
    }
    compact = []
    for v in window.values:
        if v.omitted:
            score = "" if v.score is None else f"{v.score:.6g}"
            p = "" if v.p_value is None else f"{v.p_value:.3g}"
            compact.append("\t".join((v.watch, str(v.status), v.method, str(v.samples), score, p)))
            continue
        prefix = f"{sc.WATCH_PREFIX}{v.watch}"
        attributes[f"{prefix}.status"] = v.status
        attributes[f"{prefix}.method"] = v.method
        attributes[f"{prefix}.samples"] = v.samples
        if v.score is not None:
            attributes[f"{prefix}.score"] = v.score
        if v.p_value is not None:
            attributes[f"{prefix}.p_value"] = v.p_value
        if v.top_changes:
            attributes[f"{prefix}.top_changes"] = list(v.top_changes)
    attributes[sc.WATCHES_OMITTED] = len(compact)
    if compact and window.compact:
        attributes[sc.WATCHES_COMPACT] = compact
    return {**attributes, **window.extra}


def write_traces(directory: Path, windows: Sequence[Window], instance: str | None = None) -> None:
    """Append one ``drift.evaluation`` span per window to ``directory/traces.jsonl``."""
    resource = {sc.SERVICE_NAME: "checkout"}
    if instance is not None:
        resource[sc.SERVICE_INSTANCE_ID] = instance
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileSpanExporter(directory=directory)))
    tracer = provider.get_tracer(sc.OWN_SCOPE)
    for window in windows:
        start = T0 + window.minute * MINUTE
        span = tracer.start_span(
            sc.EVALUATION_SPAN, attributes=_attributes(window), start_time=start
        )
        for v in window.values:
            if v.status == 0 and not v.level and not v.reason:
                continue
            event: dict[str, AttributeValue] = {
                sc.ATTRIBUTE: v.watch,
                sc.METHOD: v.method,
                sc.STATUS: v.status,
                sc.STATUS_NAME: sc.STATUS_NAMES[v.status],
                sc.LEVEL: v.status if v.level is None else v.level,
                sc.WARNING: 0.1,
                sc.CRITICAL: 0.25,
            }
            if v.score is not None:
                event[sc.SCORE] = v.score
            if v.p_value is not None:
                event[sc.P_VALUE] = v.p_value
            if v.top_changes:
                event[sc.TOP_CHANGES] = list(v.top_changes)
            if v.reason:
                event[sc.REASON_TEXT] = v.reason
            span.add_event(sc.DETECTED_EVENT, event)
        span.end(end_time=start + MINUTE)
    provider.shutdown()
