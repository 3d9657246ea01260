"""Hot path: what DriftSpanProcessor costs a service per span, end to end, then per part.

The headline is ``benchmarks/span_e2e.py``: in one process, GC on, the drift
worker running on its own, whole calls of N spans alternated between the SDK
alone (twice: the A/A control), the SDK with a no-op second processor, and
the SDK with otel-drift for a span that matches nothing and one that matches
an expectation with two watched values; in a full run, whole processes under
``opentelemetry-instrument`` too. The targets are judged there.

Underneath, the parts of the drift arm's cost, per case (more watched values,
more expectations, spans matching none): ``on_end`` alone, called in a loop
with the finished span the SDK hands over, after otel-drift's start-up (the
unmatched check decided, the span's lookups built); and the worker's pass
over what those calls left (rows fed to the windows, numpy, sketches, the
window closes and detectors that fall due), timed with ``force_flush``. Both
in process CPU time, GC on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from benchmarks import span_e2e, workload
from benchmarks.common import Section, Spread, spread, table, verdict
from otel_drift import DriftSpanProcessor, Settings
from otel_drift._internal.spans.unmatched import UNMATCHED_AFTER_SPANS

#: "Roughly flat": on_end at 1000 expectations within this factor of 10.
FLAT_FACTOR = 1.25


@dataclass(frozen=True)
class Case:
    label: str
    expectations: int
    watched: int
    route: str = workload.ROUTE
    kind: SpanKind = SpanKind.SERVER

    @property
    def matches(self) -> bool:
        return self.route == workload.ROUTE and self.kind is SpanKind.SERVER


CASES = (
    Case("match, 1 watched value", 1, 1),
    Case("match, 2 watched values", 1, 2),
    Case("match, 5 watched values", 1, 5),
    Case("match, 20 watched values", 1, 20),
    Case("no match (other route)", 1, 2, workload.OTHER_ROUTE),
    Case("no match (client span: no candidate)", 1, 2, kind=SpanKind.CLIENT),
    Case("10 expectations, match one", 10, 2),
    Case("10 expectations, match none", 10, 2, workload.OTHER_ROUTE),
    Case("100 expectations, match one", 100, 2),
    Case("100 expectations, match none", 100, 2, workload.OTHER_ROUTE),
    Case("1000 expectations, match one", 1000, 2),
    Case("1000 expectations, match none", 1000, 2, workload.OTHER_ROUTE),
)


@dataclass(frozen=True)
class Parts:
    case: Case
    #: ``on_end`` alone, ns a span (the request thread's share).
    on_end_ns: Spread
    #: The worker's pass over what the calls left, ns a span.
    worker_ns: Spread


def _processor(case: Case) -> DriftSpanProcessor:
    processor = DriftSpanProcessor(
        workload.load(workload.expectations_json(case.expectations, case.watched)),
        # A worker that wakes for nothing but force_flush: its pass is timed apart.
        settings=Settings(flush_interval_s=3600.0),
        emit_metrics=False,
    )
    matching, other = _handed_span(workload.ROUTE), _handed_span(case.route, case.kind)
    # Past otel-drift's start-up: the unmatched check reads the first spans whole.
    for _ in range(UNMATCHED_AFTER_SPANS // 2 + 1):
        processor.on_end(matching)
        processor.on_end(other)
    for _ in range(3):
        processor.force_flush()
    return processor


def _parts(case: Case, spans: int, rounds: int) -> Parts:
    processor = _processor(case)
    span = _handed_span(case.route, case.kind)
    on_end = processor.on_end
    for rows in processor._reader.rows:  # every row of a round kept for the worker's pass
        rows.limit = rows.wake_at = (spans + 1) * rows.stride
    calls, passes = [], []
    try:
        for _ in range(rounds):
            start = time.process_time_ns()
            for _ in range(spans):
                on_end(span)
            calls.append((time.process_time_ns() - start) / spans)
            start = time.process_time_ns()
            processor.force_flush()
            passes.append((time.process_time_ns() - start) / spans)
        dropped = sum(processor.engine.dropped.values())
    finally:
        processor.shutdown()
    if dropped:
        raise RuntimeError(f"{case.label}: {dropped} spans dropped")
    return Parts(case, spread(calls), spread(passes))


class _Keep(SpanProcessor):
    """Keeps the last span the SDK handed to its processors' ``on_end``."""

    span: ReadableSpan | None = None

    def on_end(self, span: ReadableSpan) -> None:
        self.span = span


def _handed_span(route: str, kind: SpanKind = SpanKind.SERVER) -> ReadableSpan:
    """The workload's span as the SDK hands it to ``on_end``: a ``ReadableSpan``
    snapshot of the finished span (not the ``Span`` the tracer returned)."""
    provider = TracerProvider()
    keep = _Keep()
    provider.add_span_processor(keep)
    workload.make_spans(provider.get_tracer(workload.FLASK_SCOPE), 1, route, kind)
    provider.shutdown()
    assert keep.span is not None
    return keep.span


def _row(parts: Parts, sdk_ns: float) -> list[str]:
    per_value = parts.worker_ns.median / parts.case.watched if parts.case.matches else None
    share = 100 * (parts.on_end_ns.median + parts.worker_ns.median) / sdk_ns
    return [
        parts.case.label,
        parts.on_end_ns.fmt(0),
        parts.worker_ns.fmt(0),
        f"{per_value:,.0f}" if per_value is not None else "–",
        f"{share:.1f} %",
    ]


def run(quick: bool) -> Section:
    headline = span_e2e.run(quick)
    spans, rounds = (300, 1) if quick else (10_000, 7)
    # The cases' expectations for other routes match none of their spans, by design:
    # the warning that says so at start-up would be printed once per expectation.
    unmatched = logging.getLogger("otel_drift._internal.spans.unmatched")
    level = unmatched.level
    unmatched.setLevel(logging.ERROR)
    try:
        results = {case.label: _parts(case, spans, rounds) for case in CASES}
    finally:
        unmatched.setLevel(level)
    sdk_ns = float(headline.figures["span e2e SDK alone ns"])
    ten = results["10 expectations, match one"]
    thousand = results["1000 expectations, match one"]
    thousand_none = results["1000 expectations, match none"]
    flat = thousand.on_end_ns.median <= FLAT_FACTOR * ten.on_end_ns.median
    parts = "\n\n".join(
        [
            "**The parts**, after otel-drift's start-up (the unmatched check decided, the "
            f"span's lookups built): {spans:,} calls of `on_end` with one finished span as the "
            "SDK hands it over (a `ReadableSpan`), then the worker's pass over the rows they "
            f"wrote (`force_flush`: rows to columns, numpy, sketches, the window closes of "
            f"1,000 spans and their detectors), {rounds} rounds; CPU ns a span, median "
            "(min–max). *% of SDK*: the two over the SDK-alone span above (the SDK's fan-out "
            "to a second processor comes on top).",
            table(
                ["case", "on_end, ns", "worker, ns a span", "worker, ns a value", "% of SDK"],
                [_row(r, sdk_ns) for r in results.values()],
            ),
            f"Flat in the number of expectations (on_end at 1,000 within {FLAT_FACTOR:g}× of "
            f"10): {ten.on_end_ns.median:,.0f} ns → {thousand.on_end_ns.median:,.0f} ns "
            f"(match none: {thousand_none.on_end_ns.median:,.0f} ns), {verdict(flat)}.",
        ]
    )
    two = results["match, 2 watched values"]
    no_match = results["no match (other route)"]
    figures = {
        **headline.figures,
        "on_end ns, 2 watched values": two.on_end_ns.median,
        "on_end ns, no match": no_match.on_end_ns.median,
        "worker ns a span, 2 watched values": two.worker_ns.median,
    }
    return Section("Hot path: cost per span", headline.markdown + "\n\n" + parts, figures)
