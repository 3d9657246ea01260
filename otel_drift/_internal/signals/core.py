"""What the engine finds, as ordinary OpenTelemetry signals.

- ``EvaluationSpans``: one ``drift.evaluation`` span per closed window and
  expectation, with each score and status as attributes and a
  ``drift.detected`` event per drifting value, so drift is readable in Jaeger.
- ``ViolationSpans``: a ``drift.violation`` child span inside the offending
  request's trace (the processor cannot annotate a finished span), rate-limited.
- ``DriftMetrics``: observable instruments read from the engine's state at
  collection time, so nothing is recorded per span.
- ``ConsoleReporter``: a line on stderr per status change.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

import numpy as np
from numpy.typing import NDArray
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import NonRecordingSpan, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from otel_drift._internal import semconv as sc
from otel_drift._internal.engine.core import DriftEngine, Violation, WindowEvaluation
from otel_drift._internal.engine.watch_state import WatchEvaluation, WatchState
from otel_drift._internal.expectations.model import BinnedBaseline
from otel_drift._internal.semconv import OWN_SCOPE, STATUS_NAMES
from otel_drift._internal.signals.views import value_histogram_name
from otel_drift.version import __version__

#: A string value in a violation span is shown only as a short keyed hash of
#: itself (raw values leave the process only as aggregates); numbers are shown.
#: Keyed (HMAC-SHA256), because a plain hash of a low-entropy value (a status,
#: an e-mail address from a known list) is reversed by hashing the candidates.
HASHED_VALUE_PREFIX = "hmac-sha256:"
#: The key when OTEL_DRIFT_VALUE_HASH_KEY is unset: random, this process only.
_PROCESS_KEY = os.urandom(32)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _describe(evaluation: WatchEvaluation) -> str:
    if evaluation.score is None:
        return f"{evaluation.watch}: not enough data ({evaluation.samples} values)"
    threshold = evaluation.critical if evaluation.level == 2 else evaluation.warning
    return (
        f"{evaluation.watch}: {STATUS_NAMES[evaluation.status]} "
        f"({evaluation.method} {evaluation.score:.4g}, threshold {threshold:g}, "
        f"{evaluation.samples} values)"
    )


def safe_value(value: object, key: bytes | None = None) -> AttributeValue:
    """What a violation span may carry of a raw value.

    ``key``: the deployment's hash key (equal values give equal hashes across
    its processes), else this process's random one.

    >>> safe_value(12.5), safe_value(True), safe_value(-(10**30)), safe_value(10**5000)
    (12.5, True, -1e+30, inf)
    >>> safe_value("secret", b"deployment key")
    'hmac-sha256:1c7e4d3ebb2bdf3a'
    >>> safe_value("secret") == safe_value("secret") != safe_value("secret", b"other key")
    True
    """
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        # OTLP carries 64-bit integers; its encoder drops (and logs) wider ones.
        # Subclasses (HTTPStatus) are shown as the plain number they are.
        if _INT64_MIN <= value <= _INT64_MAX:
            return int(value)
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return float(value)
    text = value if isinstance(value, str) else repr(type(value).__name__)
    digest = hmac.new(key or _PROCESS_KEY, text.encode("utf-8", "replace"), hashlib.sha256)
    return HASHED_VALUE_PREFIX + digest.hexdigest()[:16]


#: Attributes an evaluation span may carry. The SDK keeps 128 by default and
#: drops the rest with a warning; a model with 30 features has 60+ watched
#: values, so the least interesting ones (ok, then warning) are left out first
#: and counted in ``drift.watches.omitted``. The events carry the full detail
#: of every drifting value.
MAX_EVALUATION_ATTRIBUTES = 120
MAX_EVALUATION_EVENTS = 100


def _watch_attributes(evaluation: WatchEvaluation) -> dict[str, AttributeValue]:
    prefix = f"drift.watch.{evaluation.watch}"
    attributes: dict[str, AttributeValue] = {
        f"{prefix}.status": evaluation.status,
        f"{prefix}.method": evaluation.method,
        f"{prefix}.samples": evaluation.samples,
    }
    if evaluation.score is not None:
        attributes[f"{prefix}.score"] = evaluation.score
    if evaluation.p_value is not None:
        attributes[f"{prefix}.p_value"] = evaluation.p_value
    return attributes


class EvaluationSpans:
    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(OWN_SCOPE, __version__, tracer_provider)

    def __call__(self, window: WindowEvaluation) -> None:
        attributes: dict[str, AttributeValue] = {
            sc.EXPECTATION: window.expectation,
            sc.STATUS: window.status,
            sc.STATUS_NAME: STATUS_NAMES[window.status],
            sc.WINDOW_SPANS: window.spans,
            sc.WINDOW_PARTIAL: window.partial,
            sc.WATCHES: len(window.watches),
        }
        omitted = 0
        # Most severe first, so what is cut for room is what is ok.
        by_severity = sorted(window.watches, key=lambda w: (-w.status, -w.level))
        for evaluation in by_severity:
            extra = _watch_attributes(evaluation)
            if len(attributes) + len(extra) + 1 > MAX_EVALUATION_ATTRIBUTES:
                omitted += 1
                continue
            attributes.update(extra)
        attributes[sc.WATCHES_OMITTED] = omitted
        span = self._tracer.start_span(
            sc.EVALUATION_SPAN, attributes=attributes, start_time=window.start_time_ns
        )
        critical: list[str] = []
        events = 0
        for evaluation in by_severity:
            if evaluation.status == 0 and evaluation.level == 0:
                continue
            event: dict[str, AttributeValue] = {
                sc.ATTRIBUTE: evaluation.watch,
                sc.METHOD: evaluation.method,
                sc.STATUS: evaluation.status,
                sc.STATUS_NAME: STATUS_NAMES[evaluation.status],
                sc.LEVEL: evaluation.level,
                sc.WARNING: evaluation.warning,
                sc.CRITICAL: evaluation.critical,
            }
            if evaluation.score is not None:
                event[sc.SCORE] = evaluation.score
            if events < MAX_EVALUATION_EVENTS:
                span.add_event(sc.DETECTED_EVENT, event)
                events += 1
            if evaluation.status == 2:
                critical.append(_describe(evaluation))
        if critical:
            span.set_status(
                Status(StatusCode.ERROR, f"{window.expectation}: " + "; ".join(critical))
            )
        span.end(end_time=window.end_time_ns)


class ViolationSpans:
    """Child spans of offending spans, at most ``per_second`` per rule (token buckets).

    One bucket per expectation, watched value and rule: with a single bucket for
    the process, a rule broken on every call (an upstream's changed field) took
    every token before the rules after it in the pass were reached, and those
    never got an example span. The keys come from the expectations file, so the
    buckets are bounded by it.
    """

    def __init__(
        self,
        per_second: float,
        tracer_provider: trace.TracerProvider | None = None,
        hash_key: bytes | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(OWN_SCOPE, __version__, tracer_provider)
        self._hash_key = hash_key
        self._rate = per_second
        #: (expectation, watch, rule) -> [tokens, monotonic time they were counted]
        self._buckets: dict[tuple[str, str, str], list[float]] = {}
        self.suppressed = 0

    def _take(self, key: tuple[str, str, str]) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self._rate, now]
        tokens = min(self._rate, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        taken = tokens >= 1.0
        bucket[0] = tokens - 1.0 if taken else tokens
        return taken

    def __call__(self, violations: Sequence[Violation]) -> None:
        for violation in violations:
            if not self._take((violation.expectation, violation.watch, violation.rule)):
                self.suppressed += 1
                continue
            parent = None
            if violation.span_context is not None:
                parent = trace.set_span_in_context(NonRecordingSpan(violation.span_context))
            span = self._tracer.start_span(
                sc.VIOLATION_SPAN,
                context=parent,
                attributes={
                    sc.EXPECTATION: violation.expectation,
                    sc.ATTRIBUTE: violation.watch,
                    sc.RULE: violation.rule,
                    sc.VALUE: safe_value(violation.value, self._hash_key),
                },
            )
            span.set_status(
                Status(
                    StatusCode.ERROR,
                    f"{violation.expectation}.{violation.watch} broke rule {violation.rule!r}",
                )
            )
            span.end()


class DriftMetrics:
    """The ``drift.*`` instruments, observed from the engine's state at collection time."""

    def __init__(
        self, engine: DriftEngine, meter_provider: metrics.MeterProvider | None = None
    ) -> None:
        self._engine = engine
        meter = metrics.get_meter(OWN_SCOPE, __version__, meter_provider)
        meter.create_observable_gauge(
            sc.METRIC_SCORE,
            [self._scores],
            unit="1",
            description="Latest drift score per watched value.",
        )
        meter.create_observable_gauge(
            sc.METRIC_STATUS,
            [self._statuses],
            unit="1",
            description="Drift status per watched value: 0 ok, 1 warning, 2 critical.",
        )
        meter.create_observable_counter(
            sc.METRIC_VIOLATIONS,
            [self._violations],
            unit="{violation}",
            description="Values that broke a hard constraint, per rule.",
        )
        meter.create_observable_counter(
            sc.METRIC_OBSERVATIONS,
            [self._observations],
            unit="{value}",
            description="Values seen per watched value, by outcome (valid, missing, invalid).",
        )
        meter.create_observable_counter(
            sc.METRIC_DROPPED,
            [self._dropped],
            unit="{span}",
            description="Matched spans (or batch rows) dropped because the queue was full.",
        )
        meter.create_observable_counter(
            sc.METRIC_SAMPLED_OUT,
            [self._sampled_out],
            unit="{row}",
            description="Rows of large batches left out of the evenly spaced sample observed.",
        )
        meter.create_observable_counter(
            sc.METRIC_BIN_COUNT,
            [self._bins],
            unit="{value}",
            description="Values per baseline bin or category; sum across replicas for fleet drift.",
        )
        meter.create_observable_gauge(
            sc.METRIC_BASELINE_FRACTION,
            [self._baseline],
            unit="1",
            description="The baseline's expected fraction per bin or category.",
        )

    @staticmethod
    def _base(state_expectation: str, watch: str) -> dict[str, AttributeValue]:
        return {sc.EXPECTATION: state_expectation, sc.ATTRIBUTE: watch}

    def _scores(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            last = state.last
            if last is not None and last.score is not None:
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.METHOD] = state.watch.method
                yield Observation(last.score, attributes)

    def _statuses(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            attributes = self._base(state.expectation, state.watch.name)
            attributes[sc.METHOD] = state.watch.method
            yield Observation(state.status, attributes)

    def _violations(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for rule, count in sorted(state.violations.items()):
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.RULE] = rule
                yield Observation(count, attributes)

    def _observations(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for outcome, count in (
                ("valid", state.total_valid),
                ("missing", state.total_missing),
                ("invalid", state.total_invalid),
            ):
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.OUTCOME] = outcome
                yield Observation(count, attributes)

    def _dropped(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._per_expectation(self._engine.dropped_by_expectation())

    def _sampled_out(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._per_expectation(self._engine.sampled_out_by_expectation())

    def _per_expectation(self, counts: Mapping[str, int]) -> Iterable[Observation]:
        """One observation per expectation: its count, 0 when it has none."""
        for expectation in self._engine.expectations.expectations:
            yield Observation(counts.get(expectation.name, 0), {sc.EXPECTATION: expectation.name})

    def _bins(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for name, count, _fraction in state.lifetime_bins():
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.BIN] = name
                yield Observation(count, attributes)

    def _baseline(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for name, _count, fraction in state.lifetime_bins():
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.BIN] = name
                yield Observation(fraction, attributes)


class ValueHistograms:
    """Opt-in per-value histograms, bucketed at the baselines' edges (advisory boundaries).

    ``opentelemetry-instrument`` offers no way to add Views to its
    MeterProvider; ``explicit_bucket_boundaries_advisory`` is how an instrument
    brings its own buckets there.
    """

    def __init__(
        self, engine: DriftEngine, meter_provider: metrics.MeterProvider | None = None
    ) -> None:
        meter = metrics.get_meter(OWN_SCOPE, __version__, meter_provider)
        self._histograms: dict[tuple[str, str], metrics.Histogram] = {}
        for state in engine.watch_states():
            baseline = state.watch.baseline
            if isinstance(baseline, BinnedBaseline):
                self._histograms[(state.expectation, state.watch.name)] = meter.create_histogram(
                    value_histogram_name(state.expectation, state.watch.name),
                    unit=state.watch.source.unit
                    if state.watch.source.kind == "span.duration"
                    else "1",
                    description=f"Values of {state.expectation}.{state.watch.name}.",
                    explicit_bucket_boundaries_advisory=list(baseline.edges),
                )
        engine.add_value_listener(self)

    def __call__(self, state: WatchState, values: NDArray[np.float64]) -> None:
        histogram = self._histograms.get((state.expectation, state.watch.name))
        if histogram is None:
            return
        record = histogram.record
        for value in values[np.isfinite(values)].tolist():
            record(value)


class ConsoleReporter:
    """Prints one line per status change (and per window when ``verbose``)."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose
        self._lock = threading.Lock()

    def __call__(self, window: WindowEvaluation) -> None:
        lines = []
        for evaluation in window.watches:
            changed = evaluation.status != evaluation.previous_status
            if not (changed or self._verbose):
                continue
            arrow = (
                f"{STATUS_NAMES[evaluation.previous_status]} -> {STATUS_NAMES[evaluation.status]}"
                if changed
                else STATUS_NAMES[evaluation.status]
            )
            score = "n/a" if evaluation.score is None else f"{evaluation.score:.4g}"
            lines.append(
                f"[otel-drift] {window.expectation}.{evaluation.watch}: {arrow} "
                f"({evaluation.method}={score}, {evaluation.samples} values, "
                f"window of {window.spans} spans)\n"
            )
        if lines:
            stream = self._stream or sys.stderr
            with self._lock:
                stream.write("".join(lines))
                stream.flush()
