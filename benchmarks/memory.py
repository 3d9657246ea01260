"""Memory: resident size stays flat however many spans and distinct values go through.

Spans are fed to ``DriftSpanProcessor.on_end`` directly (prebuilt finished
spans: building them through the SDK would dominate the run time) in chunks
that are a whole number of windows; after each chunk ``force_flush`` has the
worker's code drain the queue, so nothing is dropped and no partial window is
closed early. Resident memory is read from /proc/self/statm between chunks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

from benchmarks import workload
from benchmarks.common import Section, table, verdict
from otel_drift import DriftSpanProcessor, Settings

MIB = 1024 * 1024
WINDOW = 1000
#: Spans per chunk between flushes (a whole number of windows), at most.
CHUNK = 50 * WINDOW
#: Growth after warm-up that still counts as flat.
FLAT_MIB = 8.0
MAX_CATEGORIES = Settings().max_categories


def rss_bytes() -> int:
    """Resident set size of this process, now."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource  # noqa: PLC0415 - fallback where there is no /proc

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass(frozen=True)
class Trace:
    """RSS samples (after n spans) of one feeding run."""

    label: str
    spans: int
    samples: tuple[tuple[int, int], ...]
    seconds: float

    @property
    def warm(self) -> int:
        """RSS once warm: after the first tenth of the run."""
        after = self.spans // 10
        return next(rss for n, rss in self.samples if n >= after)

    @property
    def growth_mib(self) -> float:
        return (self.samples[-1][1] - self.warm) / MIB

    @property
    def peak(self) -> int:
        return max(rss for _, rss in self.samples)


class _Harness:
    """A processor wired to real SDK providers (evaluation spans, drift.* metrics)."""

    def __init__(self, expectations_json: str, chunk: int) -> None:
        self.chunk = chunk
        self.provider = TracerProvider()
        self.exporter = workload.CountingExporter()
        self.provider.add_span_processor(
            BatchSpanProcessor(self.exporter, max_queue_size=workload.BATCH_QUEUE)
        )
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.processor = DriftSpanProcessor(
            workload.load(expectations_json),
            settings=Settings(queue_size=2 * chunk + 1, flush_interval_s=3600.0),
            tracer_provider=self.provider,
            meter_provider=self.meters,
        )

    def feed(
        self, label: str, spans: int, next_span: Callable[[int], ReadableSpan], samples: int
    ) -> Trace:
        on_end = self.processor.on_end
        chunk = self.chunk
        every = max(chunk, spans // samples // chunk * chunk)
        taken = [(0, rss_bytes())]
        start = time.perf_counter()
        done = 0
        while done < spans:
            size = min(chunk, spans - done)
            for i in range(done, done + size):
                on_end(next_span(i))
            done += size
            self.processor.force_flush()
            if done % every == 0 or done == spans:
                # Collecting metrics runs every callback: it belongs to the steady state.
                self.reader.get_metrics_data()
                taken.append((done, rss_bytes()))
        return Trace(label, spans, tuple(taken), time.perf_counter() - start)

    def metric(self, name: str, **attributes: str) -> float:
        data = self.reader.get_metrics_data()
        total = 0.0
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        point_attributes = dict(point.attributes or {})
                        if all(point_attributes.get(k) == v for k, v in attributes.items()):
                            total += float(getattr(point, "value", 0.0))
        return total

    def shutdown(self) -> None:
        self.processor.shutdown()
        self.provider.shutdown()
        self.meters.shutdown()


def _span_pool(size: int) -> list[ReadableSpan]:
    """Finished Flask-shaped spans with baseline-like latencies and a 97/2/1 status mix."""
    rng = np.random.default_rng(7)
    edges = np.array([0, 10, 25, 50, 100, 250, 1000], dtype=float)
    bins = rng.choice(6, size=size, p=[0.20, 0.45, 0.25, 0.07, 0.02, 0.01])
    durations_ms = rng.uniform(edges[bins], edges[bins + 1])
    statuses = rng.choice([200, 404, 500], size=size, p=[0.97, 0.02, 0.01])
    tracer = TracerProvider().get_tracer(workload.FLASK_SCOPE)
    pool: list[ReadableSpan] = []
    start = 1_700_000_000_000_000_000
    for duration, status in zip(durations_ms, statuses, strict=True):
        span = tracer.start_span(
            f"GET {workload.ROUTE}",
            kind=SpanKind.SERVER,
            attributes={"http.method": "GET", "http.route": workload.ROUTE},
            start_time=start,
        )
        span.set_attribute("http.status_code", int(status))
        span.end(end_time=start + int(duration * 1e6))
        assert isinstance(span, ReadableSpan)
        pool.append(span)
    return pool


def _chunk(total: int) -> int:
    return min(CHUNK, max(WINDOW, total // 2 // WINDOW * WINDOW))


def _many_spans(spans: int, samples: int) -> tuple[Trace, float, float]:
    harness = _Harness(workload.expectations_json(1, 2), _chunk(spans))
    try:
        pool = _span_pool(1000)
        trace = harness.feed("matching spans", spans, lambda i: pool[i % len(pool)], samples)
        valid = harness.metric("drift.observations", **{"drift.outcome": "valid"})
        dropped = harness.metric("drift.dropped")
    finally:
        harness.shutdown()
    return trace, valid, dropped


def _distinct_values(values: int, samples: int) -> tuple[Trace, int, int, float]:
    extra = {
        "user": {"attribute": "enduser.id", "baseline": {"categories": {"u0": 0.5, "u1": 0.5}}}
    }
    # Chunks of 5 windows: each chunk's spans stay parked (under the processor's
    # bound) until the force_flush that ends it.
    harness = _Harness(
        workload.expectations_json(1, 0, extra=extra), min(_chunk(values), 5 * WINDOW)
    )
    # One span object per place in a chunk, whose enduser.id changes from one chunk
    # to the next: on_end parks spans and the worker reads them later, so an object
    # may change again only after the flush that ends its chunk. (A million spans
    # would measure the benchmark's own garbage.)
    pool = [_distinct_value_span() for _ in range(harness.chunk)]

    def next_span(i: int) -> ReadableSpan:
        span, attributes = pool[i % len(pool)]
        attributes["enduser.id"] = f"user-{i}"
        return span

    try:
        trace = harness.feed("distinct categorical values", values, next_span, samples)
        states = list(harness.processor.engine.watch_states())
        categories = states[0].lifetime_categories
        assert categories is not None
        tracked = len(categories.counts)
        overflow = categories.other
        other_metric = harness.metric("drift.bin.count", **{"drift.bin": "__other__"})
    finally:
        harness.shutdown()
    return trace, tracked, overflow, other_metric


def _distinct_value_span() -> tuple[ReadableSpan, dict[str, object]]:
    """A span and the attributes dict it reads (the span shows it read-only)."""
    attributes: dict[str, object] = {"http.route": workload.ROUTE, "enduser.id": ""}
    span = ReadableSpan(
        name=f"GET {workload.ROUTE}",
        context=SpanContext(trace_id=1, span_id=1, is_remote=False),
        kind=SpanKind.SERVER,
        attributes=attributes,  # type: ignore[arg-type]
        instrumentation_scope=InstrumentationScope(workload.FLASK_SCOPE),
        start_time=0,
        end_time=1_000_000,
    )
    return span, attributes


def _curve(trace: Trace, unit: str, count: int = 6) -> str:
    return table(
        [f"{unit} fed", "RSS, MiB"],
        [[f"{n:,}", f"{rss / MIB:,.1f}"] for n, rss in _pick(trace.samples, count)],
    )


def _pick(samples: Sequence[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    """``count`` samples spread evenly over the run, the first and last included."""
    if len(samples) <= count:
        return list(samples)
    step = (len(samples) - 1) / (count - 1)
    return [samples[round(i * step)] for i in range(count)]


def run(quick: bool) -> Section:
    spans = 20_000 if quick else 10_000_000
    values = 20_000 if quick else 1_000_000
    many, valid, dropped = _many_spans(spans, samples=20)
    distinct, tracked, overflow, other_metric = _distinct_values(values, samples=10)
    flat = many.growth_mib <= FLAT_MIB and distinct.growth_mib <= FLAT_MIB
    # The cap counts the baseline's own categories too.
    bounded = tracked <= MAX_CATEGORIES and overflow == values - (MAX_CATEGORIES - 2)
    rate = spans / many.seconds
    markdown = "\n\n".join(
        [
            f"Resident memory (MiB) of the process while {spans:,} matching spans (two watched "
            f"values, windows of {WINDOW:,} spans, evaluation spans and drift.* metrics going "
            f"to real SDK providers) and then {values:,} distinct values of a categorical "
            "watch go through `DriftSpanProcessor.on_end` and the worker.",
            _curve(many, "spans"),
            f"Spans: {many.warm / MIB:,.1f} MiB once warm (after a tenth of the run), "
            f"{many.samples[-1][1] / MIB:,.1f} MiB at the end ({many.growth_mib:+.1f} MiB), "
            f"peak {many.peak / MIB:,.1f} MiB; `drift.observations` counted {valid:,.0f} valid "
            f"values (2 per span) and `drift.dropped` {dropped:,.0f}. End to end (on_end + "
            f"worker, one core) that is {rate:,.0f} spans/s.",
            _curve(distinct, "distinct values"),
            f"Distinct values: {distinct.growth_mib:+.1f} MiB after warm-up; the category "
            f"counter tracks {tracked:,} categories (the cap, OTEL_DRIFT_MAX_CATEGORIES = "
            f"{MAX_CATEGORIES:,}, counts the 2 baseline ones) and folded {overflow:,} values into "
            f"`__other__` (the `drift.bin.count` series for `__other__` reads "
            f"{other_metric:,.0f}: every value outside the baseline's categories).",
            f"Targets: flat after warm-up (≤ {FLAT_MIB:g} MiB growth) {verdict(flat)}; state "
            f"bounded by the category cap {verdict(bounded)}.",
        ]
    )
    figures = {
        "RSS growth after warm-up, MiB (spans)": many.growth_mib,
        "RSS growth after warm-up, MiB (distinct values)": distinct.growth_mib,
        "spans/s through on_end + worker": rate,
        "tracked categories after the distinct values": float(tracked),
    }
    return Section("Memory: resident size under load", markdown, figures)
