"""``DriftSpanProcessor``: the SDK's span processor, a thin adapter in front of the engine.

``on_end`` runs on the request thread, synchronously, and the SDK does not
catch what it raises; so it does little. One lookup by span name
(``_decided``: the decision for that name's scope and kind, then the one
attribute value that decides) tells which expectations the span feeds: none,
and it returns; some, and it writes a row of the few raw values each reads
into that expectation's buffer (``spans/rows.py``: one ``list.extend``), and
wakes the engine's worker now and then, as the SDK's ``BatchSpanProcessor``
does with its exporter. The first span of a name (or of another scope or kind
under it) is decided from the matcher's precompiled lookups (scope, then name,
then kind), and the decision kept by name. A span it cannot decide that way
(the first of a new name, kind and scope, whose lookups the worker then
builds; expectations testing an attribute against a regex, whose cost grows
with the value; the spans the unmatched check reads, the first thousand or
so; a span of another class) it parks whole. On the worker, the processor's
``SpanReader`` (``spans/reader.py``) matches the parked spans and feeds the
rows to the engine: processor (decide, write) -> reader (worker) -> engine.
Neither raises into the application: the reader counts and logs its errors.

Measured (benchmarks/hot_path.py, the same loaded machine, one run each):
``on_end`` 0.19 µs for a span that matches nothing (0.26 with the lookups by
scope, name and kind per span) and 0.61 µs for a row with two watched values
and the default ``explain_by`` (0.91 before the writers were written out per
row shape, ``rows.py``). End to end (benchmarks/span_e2e.py, one process, GC
on: SDK + BatchSpanProcessor, a SERVER span of 5 attributes, ~20 µs alone) a
matched span still costs +15 to +16 %: most of it is the worker's (~1.1 µs a
span: the values' conversion, ~0.3 µs, and the window closes' detectors,
~0.5 µs a span for windows of 1,000), then the SDK's fan-out to a second
processor (+0 to +2 %). Parking every span whole instead cost +16 % a span
that matches nothing and +25 % one that matches (kept alive, then read and
freed on the worker, cold).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

from otel_drift._internal.engine.clock import SYSTEM_CLOCK, Clock
from otel_drift._internal.engine.core import DriftEngine
from otel_drift._internal.expectations.load import Loaded, salvage_expectations
from otel_drift._internal.expectations.model import ExpectationsFile
from otel_drift._internal.settings import Settings
from otel_drift._internal.signals.evaluation_spans import EvaluationSpans
from otel_drift._internal.signals.metrics import DriftMetrics, ValueHistograms
from otel_drift._internal.signals.violation_spans import ViolationSpans
from otel_drift._internal.spans.matching import MAX_MATCH_KEYS, NO_CANDIDATES, SpanMatcher
from otel_drift._internal.spans.reader import SpanReader, private_layout_holds

_logger = logging.getLogger(__name__)

#: Ended spans and records that on_end may park for the worker (their memory stays
#: bounded: a span holds its attributes and events, a few KB; a record ~200 bytes).
MAX_PARKED_SPANS = 8192

#: The span class whose private attributes ``on_end`` and the reader read, or None.
_FAST_SPAN: type | None = ReadableSpan if private_layout_holds() else None


class DriftSpanProcessor(SpanProcessor):
    """Compares finished spans with declared expectations and reports drift.

    Add it to an SDK ``TracerProvider`` *before* the exporting processor, so
    that the evaluation spans of the last window, emitted at shutdown, are
    still exported::

        provider.add_span_processor(DriftSpanProcessor("expectations.yaml"))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))

    ``expectations`` is a path or an already loaded file. A file read from a
    path runs without its invalid expectations (each logged, and counted in
    ``drift.config.errors``) unless ``settings.strict``; ``ExpectationsError``
    when it is refused whole. Signals go to the given providers, or to the
    global ones. ``clock`` is where windows read the time (tests set their own).
    """

    def __init__(
        self,
        expectations: str | os.PathLike[str] | ExpectationsFile | Loaded,
        *,
        settings: Settings | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        emit_spans: bool = True,
        emit_metrics: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings or Settings()
        if isinstance(expectations, ExpectationsFile):
            expectations = Loaded(expectations)
        elif not isinstance(expectations, Loaded):
            expectations = salvage_expectations(expectations, strict=self.settings.strict)
        loaded = expectations.file
        #: Expectations of the file left out as invalid (``drift.config.errors``).
        self.disabled_expectations = expectations.disabled
        self.engine = DriftEngine(loaded, self.settings, clock=clock)
        self._matcher = SpanMatcher(loaded.expectations)
        self._kinds = self._matcher.kinds
        #: Ended spans parked by on_end for the worker, where the reader matches them
        #: and reads their values: see on_end. Bounded; past it, on_end has the
        #: reader do it in place.
        self._ended: deque[ReadableSpan] = deque()
        self._ended_capacity = min(self.settings.queue_size, MAX_PARKED_SPANS)
        #: Parked spans at which the next one wakes the worker (half the bound).
        self._ended_wake_before = max(1, self._ended_capacity // 2) - 1
        self._reader = SpanReader(
            self.engine,
            self._matcher,
            loaded,
            self._ended,
            _FAST_SPAN,
            capacity=self._ended_capacity,
        )
        #: on_end's way when the parking is full (bound once: on_end's code stays as tuned).
        self._match = self._reader.match
        #: What on_end reads to decide and write (see on_end).
        self._index = self._matcher.index
        self._rows = self._reader.rows
        self._unmatched = self._reader.unmatched
        #: Per span name, the decision for spans of the name's scope and kind (the last
        #: decided): (scope, kind, None, None, indices) to feed those (none: ``()``),
        #: or (scope, kind, attribute, {value: indices}, indices for any other value):
        #: ``Candidates.key``. Filled by ``_decide`` once the unmatched check is
        #: decided; emptied at shutdown.
        self._decided: dict[str, tuple[object, SpanKind, str | None, Any, Sequence[int]]] = {}
        self.engine.add_source(self._reader.drain)
        weak = weakref.ref(self)

        def after_fork() -> None:
            processor = weak()
            if processor is not None:
                # The parent's spans and rows, counted (or not) there.
                processor._ended.clear()
                for rows in processor._rows:
                    rows.buffer.clear()

        os.register_at_fork(after_in_child=after_fork)
        if emit_spans:
            self.engine.add_listener(EvaluationSpans(tracer_provider))
            if self.settings.violation_spans_per_second > 0:
                self.engine.add_violation_listener(
                    ViolationSpans(
                        self.settings.violation_spans_per_second,
                        tracer_provider,
                        hash_key=self.settings.value_hash_key,
                    )
                )
        self.metrics = (
            DriftMetrics(
                self.engine,
                meter_provider,
                config_errors=[d.name for d in self.disabled_expectations],
                unmatched=self._reader.unmatched.reported,
            )
            if emit_metrics
            else None
        )
        if emit_metrics and self.settings.value_histograms:
            ValueHistograms(self.engine, meter_provider)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        # Decided here with lookups compiled once, each field read once, inline (every
        # call costs ~50 ns). A span matching nothing is neither parked nor read again;
        # a matched one leaves a row of the values read, not itself.
        if type(span) is _FAST_SPAN:
            indices: Sequence[int] | None = None
            # One lookup by span name decides the usual span (its scope and kind those
            # of the name's last span decided by _decide): ~0.1 µs when it matches nothing.
            decided = self._decided.get(span._name)
            if (
                decided is not None
                and span._kind is decided[1]
                and span._instrumentation_scope is decided[0]
                and type(span._attributes) is BoundedAttributes
            ):
                key = decided[2]
                if key is None:
                    indices = decided[4]  # the same for every span of the key
                else:
                    try:
                        indices = decided[3].get(span._attributes._dict.get(key), decided[4])
                    except Exception:
                        indices = decided[4]  # unhashable: equal to no scalar of the file
                if not indices:
                    return
            elif self._ended_capacity:
                kind = span._kind
                if type(kind) is SpanKind:
                    if not self._kinds[kind._value_]:
                        # A kind no expectation matches (FastAPI's two ASGI spans a
                        # request, or client spans when only server spans are watched).
                        return
                    if not self._unmatched.active:  # else the unmatched check reads it
                        try:
                            indices = self._decide(span, kind)
                        except Exception:
                            indices = None  # parked whole: the reader reads it again
            if indices is not None:
                try:
                    attributes = span._attributes._dict  # type: ignore[union-attr]
                    for index in indices:
                        rows = self._rows[index]
                        before = rows.write(span, attributes)
                        if before == rows.wake_at:
                            self.engine.wake()
                        elif not before:  # a no-op once the worker runs
                            self.engine.start_worker()
                        elif before < 0:  # its rows full: to the queue
                            self._reader.submit(index, span, attributes)
                except Exception:
                    # Not parked whole: rows written would count it twice.
                    self._reader.count_error()
                return
        ended = self._ended
        parked = len(ended)
        if parked < self._ended_capacity:
            ended.append(span)
            if parked == self._ended_wake_before:
                self.engine.wake()
            elif not parked:  # the first since the last pass: a no-op once it runs
                self.engine.start_worker()
            return
        self._match(span)  # parked spans at their bound (or shut down): in place

    def _decide(self, span: ReadableSpan, kind: SpanKind) -> Sequence[int] | None:
        """The expectations an SDK span feeds, from the matcher's index (scope, name,
        kind, then its attributes), the decision remembered by span name for the next
        (``_decided``); None when it cannot be decided here: it is parked whole."""
        scope = span._instrumentation_scope
        by_name = self._index.get("" if scope is None else scope._name)
        slots = None if by_name is None else by_name.get(span._name)
        candidates = None if slots is None else slots[kind._value_]
        if candidates is None:
            return None  # a key not seen yet, whose candidates the worker builds
        raw = span._attributes
        if type(raw) is not BoundedAttributes:
            return None
        decided = self._decided
        if len(decided) >= MAX_MATCH_KEYS:
            decided.clear()
        if candidates is NO_CANDIDATES:
            decided[span._name] = (scope, kind, None, None, ())
            return ()
        attributes = raw._dict
        key = candidates.key
        if key is not None:
            direct, otherwise = candidates.direct, candidates.otherwise
            decided[span._name] = (scope, kind, key, direct, otherwise)
            try:
                return direct.get(attributes.get(key), otherwise)
            except Exception:
                return otherwise  # unhashable: equal to no scalar of the file
        if candidates.always is not None:
            decided[span._name] = (scope, kind, None, None, candidates.always)
            return candidates.always
        if candidates.equalities_only:
            return candidates.matches(attributes)
        return None  # a regex: its cost grows with the value, on the worker

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
        # Spans that end from now on are matched in place, and dropped and counted
        # by the engine once it is shut down; those parked go in its last flush.
        self._ended_capacity = 0
        self._decided.clear()
        try:
            self.engine.shutdown()
            self._reader.match_parked()  # any parked after that flush: dropped and counted
        except Exception:
            _logger.exception("otel-drift: error during shutdown")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self.engine.force_flush(timeout_millis)
        except Exception:
            _logger.exception("otel-drift: error during force_flush")
            return False
