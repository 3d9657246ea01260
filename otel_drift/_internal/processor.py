"""``DriftSpanProcessor``: the hot path from a finished span to the engine.

``on_end`` runs on the request thread, synchronously, and the SDK does not
catch what it raises; so it does the least possible (a cached plan lookup,
reading a few attributes, one deque append) and swallows every error of its
own. Everything else happens on the engine's worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from opentelemetry import metrics, trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

from otel_drift._internal.engine import DriftEngine
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile
from otel_drift._internal.matching import EMPTY_PLAN, SpanMatcher
from otel_drift._internal.settings import Settings
from otel_drift._internal.signals import (
    DriftMetrics,
    EvaluationSpans,
    ValueHistograms,
    ViolationSpans,
)

_logger = logging.getLogger(__name__)

_ATTRIBUTE = 0
_DURATION = 1
_STATUS = 2

#: Per expectation: one (code, attribute names) per watched value.
Extractor = tuple[tuple[int, tuple[str, ...]], ...]


def _extractor(expectation: Expectation) -> Extractor:
    specs: list[tuple[int, tuple[str, ...]]] = []
    for watch in expectation.watch:
        kind = watch.source.kind
        if kind == "span.duration":
            specs.append((_DURATION, ()))
        elif kind == "span.status":
            specs.append((_STATUS, ()))
        else:
            # attribute and http.status_class both read the first present attribute;
            # the worker derives the class.
            specs.append((_ATTRIBUTE, watch.source.attributes))
    return tuple(specs)


def _attributes_of(span: ReadableSpan) -> Mapping[str, object]:
    """The span's attributes as a plain dict where the SDK allows it.

    ``ReadableSpan.attributes`` wraps the SDK's ``BoundedAttributes`` in a
    read-only proxy whose ``get`` runs Python code and raises and catches
    ``KeyError`` on every miss (~0.9 us against ~0.05 us for a dict). The span
    is finished, so its attributes can no longer change; with the SDK pinned,
    reading its private dict is safe, and anything else takes the public path.
    """
    raw = getattr(span, "_attributes", None)
    if type(raw) is BoundedAttributes:
        return raw._dict
    return span.attributes or {}


class DriftSpanProcessor(SpanProcessor):
    """Compares finished spans with declared expectations and reports drift.

    Add it to an SDK ``TracerProvider`` *before* the exporting processor, so
    that the evaluation spans of the last window, emitted at shutdown, are
    still exported::

        provider.add_span_processor(DriftSpanProcessor("expectations.yaml"))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))

    ``expectations`` is a path or an already loaded file. Signals go to the
    given providers, or to the global ones.
    """

    def __init__(
        self,
        expectations: str | os.PathLike[str] | ExpectationsFile,
        *,
        settings: Settings | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        emit_spans: bool = True,
        emit_metrics: bool = True,
    ) -> None:
        loaded = (
            expectations
            if isinstance(expectations, ExpectationsFile)
            else load_expectations(expectations)
        )
        self.settings = settings or Settings()
        self.engine = DriftEngine(loaded, self.settings)
        self._matcher = SpanMatcher(loaded.expectations)
        self._plans = self._matcher.plans
        self._extractors: Sequence[Extractor] = tuple(_extractor(e) for e in loaded.expectations)
        self._errors = 0
        if emit_spans:
            self.engine.add_listener(EvaluationSpans(tracer_provider))
            if self.settings.violation_spans_per_second > 0:
                self.engine.add_violation_listener(
                    ViolationSpans(self.settings.violation_spans_per_second, tracer_provider)
                )
        self.metrics = DriftMetrics(self.engine, meter_provider) if emit_metrics else None
        if emit_metrics and self.settings.value_histograms:
            ValueHistograms(self.engine, meter_provider)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            scope = span.instrumentation_scope
            key = (span.name, span.kind, scope.name if scope is not None else "")
            plan = self._plans.get(key)
            if plan is None:
                plan = self._matcher.plan_for(key)
            if plan is EMPTY_PLAN:
                return
            attributes = _attributes_of(span)
            for index in plan.matches(attributes):
                values: list[object] = []
                for code, names in self._extractors[index]:
                    if code == _ATTRIBUTE:
                        value = None
                        for name in names:
                            value = attributes.get(name)
                            if value is not None:
                                break
                        values.append(value)
                    elif code == _DURATION:
                        end, start = span.end_time, span.start_time
                        values.append(
                            end - start if end is not None and start is not None else None
                        )
                    else:
                        values.append(span.status.status_code)
                self.engine.submit(index, span.context, tuple(values))
        except Exception:
            self._errors += 1
            if self._errors <= 3 or self._errors % 10000 == 0:
                _logger.exception("otel-drift: error in on_end (#%d); span ignored", self._errors)

    def expectations_for(
        self,
        span_name: str,
        kind: SpanKind,
        scope: str,
        attributes: Mapping[str, object],
    ) -> list[str]:
        """Names of the expectations that a span like this one matches.

        For instrumentations that hand whole batches to ``self.engine.observe``
        (their own spans, scope ``otel_drift.instrumentation.*``, are skipped by
        ``on_end`` so nothing is counted twice). Compute it once per model and
        cache it, not per call.
        """
        expectations = self.engine.expectations.expectations
        return [
            expectations[i].name for i in self._matcher.match(span_name, kind, scope, attributes)
        ]

    def shutdown(self) -> None:
        try:
            self.engine.shutdown()
        except Exception:
            _logger.exception("otel-drift: error during shutdown")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self.engine.force_flush(timeout_millis)
        except Exception:
            _logger.exception("otel-drift: error during force_flush")
            return False
