"""Hot path: what DriftSpanProcessor adds to each span on the request thread.

Costs are CPU time of the process (see benchmarks/common.py for why). Two
pipelines as ``opentelemetry-instrument`` builds them (SDK TracerProvider
+ BatchSpanProcessor with an exporter that does nothing), one with
DriftSpanProcessor added in front. Each run makes N Flask-shaped server spans
through one of them; runs alternate, and the added cost is the per-round ratio.

The drift worker is kept out of the timed loops (a flush interval of an hour
and a queue larger than a run) and is timed on its own right after each run,
with ``force_flush``: that is drain + numpy + sketches + the window closes and
detectors that fall due, per watched value.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from benchmarks import workload
from benchmarks.common import (
    Section,
    Spread,
    added_percent,
    cpu_ns,
    interleave,
    spread,
    table,
    unresolved,
    verdict,
)
from otel_drift import DriftSpanProcessor, Settings

TARGET_TWO_WATCHED = 5.0
TARGET_NO_MATCH = 1.0
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
class Result:
    case: Case
    sdk_ns: Spread
    drift_ns: Spread
    added: Spread
    on_end_ns: Spread
    #: What the worker then does with each parked span (its candidates, its values read
    #: column-wise).
    match_ns: Spread
    worker_ns_per_value: Spread | None


def _settings(spans_per_run: int) -> Settings:
    # The queue must hold a whole run without reaching its high-water mark
    # (half the capacity), which would wake the worker inside the timed loop.
    return Settings(queue_size=max(4 * spans_per_run, 1024), flush_interval_s=3600.0)


def _measure(case: Case, base: workload.Pipeline, spans: int, rounds: int, warmup: int) -> Result:
    settings = _settings(spans)
    drift = workload.pipeline(
        workload.load(workload.expectations_json(case.expectations, case.watched)), settings
    )
    processor = drift.drift
    assert processor is not None
    # Every span of a run parked, and the worker woken by nothing but force_flush:
    # its work stays out of the timed loop, as the queue size above arranges too.
    processor._ended_capacity = processor._ended_wake_before = spans + 1
    worker_ns: list[float] = []

    def run_sdk() -> float:
        return (
            cpu_ns(lambda: workload.make_spans(base.tracer, spans, case.route, case.kind)) / spans
        )

    def run_drift() -> float:
        elapsed = cpu_ns(lambda: workload.make_spans(drift.tracer, spans, case.route, case.kind))
        worker_ns.append(_flush_ns(processor))
        return elapsed / spans

    timed = interleave({"sdk": run_sdk, "drift": run_drift}, rounds, warmup=warmup)
    on_end, match = _on_end_ns(processor, case, spans, rounds)
    values = spans * case.watched
    # The warm-up round's flush is dropped like its timings.
    per_value = [ns / values for ns in worker_ns[warmup:]] if case.matches else None
    dropped = sum(processor.engine.dropped.values())
    drift.shutdown()
    if dropped:
        raise RuntimeError(f"{case.label}: {dropped} spans dropped; the queue is too small")
    return Result(
        case=case,
        sdk_ns=spread(timed["sdk"]),
        drift_ns=spread(timed["drift"]),
        added=added_percent(timed["drift"], timed["sdk"]),
        on_end_ns=spread(on_end),
        match_ns=spread(match),
        worker_ns_per_value=spread(per_value) if per_value else None,
    )


def _flush_ns(processor: DriftSpanProcessor) -> float:
    return float(cpu_ns(processor.force_flush))


def _on_end_ns(
    processor: DriftSpanProcessor, case: Case, spans: int, rounds: int
) -> tuple[list[float], list[float]]:
    """``on_end`` alone, called with one finished span (the request thread's share:
    parking it), and the matching the worker then does per parked span."""
    span = _handed_span(case.route, case.kind)
    on_end, columns_of = processor.on_end, processor._reader._columns_of
    handed = [span] * spans

    def park() -> None:
        for _ in range(spans):
            on_end(span)

    def matching() -> None:
        # What the worker does with a pass's parked spans before it feeds the
        # windows: the matching, then the watched values read column by column.
        columns_of(handed)

    parked, matched = [], []
    for _ in range(rounds):
        parked.append(cpu_ns(park) / spans)
        processor._ended.clear()  # matched below, in a loop of its own
        matched.append(cpu_ns(matching) / spans)
        processor.force_flush()
    return parked, matched


class _Keep(SpanProcessor):
    """Keeps the last span the SDK handed to its processors' ``on_end``."""

    span: ReadableSpan | None = None

    def on_end(self, span: ReadableSpan) -> None:
        self.span = span


def _handed_span(route: str, kind: SpanKind) -> ReadableSpan:
    """The workload's span as the SDK hands it to ``on_end``: a ``ReadableSpan``
    snapshot of the finished span (not the ``Span`` the tracer returned)."""
    provider = TracerProvider()
    keep = _Keep()
    provider.add_span_processor(keep)
    workload.make_spans(provider.get_tracer(workload.FLASK_SCOPE), 1, route, kind)
    provider.shutdown()
    assert keep.span is not None
    return keep.span


def _row(result: Result) -> list[str]:
    worker = result.worker_ns_per_value
    return [
        result.case.label,
        result.sdk_ns.fmt(0),
        result.drift_ns.fmt(0),
        result.added.fmt(1, " %"),
        result.on_end_ns.fmt(0),
        result.match_ns.fmt(0),
        f"{_on_end_percent(result):.1f} %",
        worker.fmt(0) if worker is not None else "–",
    ]


def run(quick: bool) -> Section:
    spans, rounds, warmup = (300, 1, 0) if quick else (10_000, 11, 1)
    base = workload.pipeline()
    try:
        results = {case.label: _measure(case, base, spans, rounds, warmup) for case in CASES}
        exported_ok = base.exporter.exported > 0
    finally:
        base.shutdown()
    two = results["match, 2 watched values"]
    no_match = results["no match (other route)"]
    ten = results["10 expectations, match one"]
    thousand = results["1000 expectations, match one"]
    thousand_none = results["1000 expectations, match none"]
    flat = thousand.match_ns.median <= FLAT_FACTOR * ten.match_ns.median
    rows = [_row(r) for r in results.values()]
    markdown = "\n\n".join(
        [
            f"{spans:,} spans per run, {rounds} rounds alternating SDK alone / SDK + otel-drift "
            "(order flipped every round); medians, min–max over rounds in brackets. "
            "*added* is the per-round ratio of the two arms. *on_end alone* calls "
            "`DriftSpanProcessor.on_end` directly with one finished span, as the SDK hands it "
            "to processors (a `ReadableSpan` snapshot): the request thread's share, which "
            "parks the span; *matched* is what the worker then does with each parked span "
            "before it feeds the windows (find its candidates; read its values, a column per "
            "watched value over all the run's spans), timed on its own; "
            "*% of SDK* relates the two together to the SDK-alone cost (without the SDK's "
            "fan-out to a second processor). The span: kind SERVER, Flask's scope, 5 attributes at "
            "start + `http.status_code` before the end, exported by a BatchSpanProcessor "
            "to an exporter that does nothing.",
            table(
                [
                    "case",
                    "SDK alone, ns/span",
                    "SDK + otel-drift, ns/span",
                    "added",
                    "on_end alone, ns",
                    "matched, ns",
                    "% of SDK",
                    "worker, ns/value",
                ],
                rows,
            ),
            "The worker's column is `force_flush` after each run divided by the values the run "
            "read: matching the parked spans, reading their values, numpy conversion, "
            "sketch updates and the window "
            "closes (every 1,000 spans) with their detectors. It runs on the engine's thread, "
            "off the request path, but on this 2-core machine it shares the CPU (and the GIL) "
            "with the application: a matched span with two watched values costs the process "
            f"{two.on_end_ns.median:,.0f} ns on the request thread plus about "
            f"{2 * _worker(two):,.0f} ns on the worker.",
            "Targets, judged on both measures: *on_end alone* plus *matched* is a lower bound "
            "of the "
            "added cost (the SDK's fan-out to one more processor comes on top) and is "
            "precise; *added* is the whole cost but spreads with what else the machine "
            "runs. "
            + _target("Two watched values", two, TARGET_TWO_WATCHED)
            + _target("A span that matches nothing", no_match, TARGET_NO_MATCH)
            + f"Flat in the number of expectations (matching at 1,000 within "
            f"{FLAT_FACTOR:g}× of 10): {ten.match_ns.median:,.0f} ns → "
            f"{thousand.match_ns.median:,.0f} ns (match none: "
            f"{thousand_none.match_ns.median:,.0f} ns), {verdict(flat)}."
            + ("" if exported_ok else " (The SDK arm exported nothing: check the pipeline.)"),
        ]
    )
    figures = {
        "added % per span, 2 watched values": two.added.median,
        "added % per span, no match": no_match.added.median,
        "added % per span, 1000 expectations": thousand.added.median,
        "on_end ns, 2 watched values": two.on_end_ns.median,
        "on_end ns, no match": no_match.on_end_ns.median,
        "matched ns, 2 watched values": two.match_ns.median,
        "matched ns, no match": no_match.match_ns.median,
        "worker ns per value, 2 watched values": _worker(two),
    }
    return Section("Hot path: cost per span", markdown, figures)


def _on_end_percent(result: Result) -> float:
    return 100 * (result.on_end_ns.median + result.match_ns.median) / result.sdk_ns.median


def _target(label: str, result: Result, target: float) -> str:
    lower_bound = _on_end_percent(result)
    met = lower_bound <= target and result.added.median <= target
    return (
        f"{label}, ≤ {target:g} % added: on_end and matching {lower_bound:.1f} %, end to end "
        f"{result.added.median:+.1f} %{unresolved(result.added, target)} → {verdict(met)}. "
    )


def _worker(result: Result) -> float:
    worker = result.worker_ns_per_value
    return worker.median if worker is not None else float("nan")
