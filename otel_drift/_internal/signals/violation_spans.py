"""``ViolationSpans``: a ``drift.violation`` child span per broken hard rule.

The span processor cannot annotate a span that has already finished, so a
broken constraint (range, allowed set, required, type, JSON shape) is shown as
a child span inside the offending request's trace, carrying the value only as
``safe_value`` allows. Rate-limited per rule, so a rule broken on every call
cannot flood the trace backend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Status, StatusCode

from otel_drift._internal import semconv as sc
from otel_drift._internal.engine.results import Violation
from otel_drift._internal.semconv import OWN_SCOPE
from otel_drift._internal.signals.privacy import safe_value
from otel_drift.version import __version__


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
