"""Feeding the engine from one of our own spans (one row), as the processor would.

Spans of otel-drift's own scopes are skipped by ``DriftSpanProcessor.on_end``
(our instrumentations hand their values over themselves). An LLM call is one
row whose watched values are its span's attributes, duration and status:
this reads them the processor's way, checks the constraints (so breaks can
be span events before the span ends) and calls ``engine.observe``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from otel_drift._internal.engine.constraints import check_labels, check_numeric
from otel_drift._internal.expectations.model import Expectation, Watch
from otel_drift._internal.spans.processor import DriftSpanProcessor
from otel_drift._internal.values import category_column, numeric_column, status_class

_DIVISORS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


@dataclass(frozen=True)
class Finding:
    expectation: str
    watch: str
    rule: str


def _value(
    watch: Watch, attributes: Mapping[str, Any], duration_ns: int, status: StatusCode
) -> Any:
    kind = watch.source.kind
    if kind == "span.duration":
        # In the watch's unit already: observe()'s numeric path takes numbers as they are.
        return duration_ns / _DIVISORS[watch.source.unit]
    if kind == "span.status":
        return _STATUS[status]
    if kind in ("attribute", "http.status_class"):
        value = next(
            (attributes[n] for n in watch.source.attributes if attributes.get(n) is not None), None
        )
        return status_class(value) if kind == "http.status_class" else value
    return None  # ML sources: not a span value


def observe_span(
    processor: DriftSpanProcessor,
    expectations: list[Expectation],
    attributes: Mapping[str, Any],
    duration_ns: int,
    status: StatusCode,
) -> list[Finding]:
    """Hand one span's values to each expectation; return the constraint breaks."""
    findings: list[Finding] = []
    for expectation in expectations:
        columns: dict[str, list[Any]] = {}
        for watch in expectation.watch:
            value = _value(watch, attributes, duration_ns, status)
            if value is None and watch.constraints.empty:
                continue
            raw = [value]
            if not watch.constraints.empty:
                if watch.kind == "numeric":
                    broken = check_numeric(watch.constraints, raw, numeric_column(raw), 1)
                else:
                    broken = check_labels(watch.constraints, raw, category_column(raw), 1)
                findings.extend(Finding(expectation.name, watch.name, r) for r in broken.counts)
            if value is not None:
                columns[watch.name] = raw
        processor.engine.observe(expectation.name, columns, rows=1)
    return findings


def matching(
    processor: DriftSpanProcessor, span_name: str, kind: SpanKind, scope: str, attributes: Any
) -> list[Expectation]:
    names = processor.expectations_for(span_name, kind, scope, attributes)
    index = processor.engine.index
    return [processor.engine.expectations.expectations[index[name]] for name in names]
