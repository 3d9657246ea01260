"""Shared pieces of the hardening suite: a lean SDK pipeline, metric readers, figures.

The pipeline here differs from ``tests.support.make_pipeline`` in one way that
matters at a million spans: the host's spans are not kept in memory; only
otel-drift's own spans are, and each is checked to be exportable as OTLP.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.semconv import OWN_SCOPE

BIN = Path(sys.executable).parent
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: Figures per topic, printed by ``conftest.pytest_terminal_summary``.
FIGURES: dict[str, dict[str, object]] = {}


def record_figures(topic: str, figures: dict[str, object]) -> None:
    FIGURES.setdefault(topic, {}).update(figures)


def exportable(value: object) -> bool:
    """Whether OTLP can carry ``value`` as an attribute (the encoder logs and drops the rest)."""
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, float):
        return True
    if isinstance(value, tuple):
        return all(exportable(item) for item in value)
    return False


class OwnSpanSink(SpanExporter):
    """Counts the host's spans, keeps otel-drift's (up to ``keep``) and checks they export."""

    def __init__(self, keep: int = 100_000) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self.host_spans = 0
        self.own: list[ReadableSpan] = []
        self.own_by_name: Counter[str] = Counter()
        self.unexportable: list[tuple[str, str, object]] = []
        # A fork while another thread exports would leave the child's copy locked forever.
        # (Through a weak reference: fork hooks live as long as the process.)
        weak = weakref.ref(self)

        def new_lock() -> None:
            sink = weak()
            if sink is not None:
                sink._lock = threading.Lock()

        os.register_at_fork(after_in_child=new_lock)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                scope = span.instrumentation_scope
                if scope is None or scope.name != OWN_SCOPE:
                    self.host_spans += 1
                    continue
                self.own_by_name[span.name] += 1
                if len(self.own) < self._keep:
                    self.own.append(span)
                for key, value in (span.attributes or {}).items():
                    if not exportable(value):
                        self.unexportable.append((span.name, key, value))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass
class Rig:
    """A real SDK TracerProvider with DriftSpanProcessor, an own-span sink, a metric reader."""

    provider: TracerProvider
    processor: DriftSpanProcessor
    sink: OwnSpanSink
    reader: InMemoryMetricReader
    meter_provider: MeterProvider

    def points(self, name: str) -> list[tuple[dict[str, object], float]]:
        found: list[tuple[dict[str, object], float]] = []
        data = self.reader.get_metrics_data()
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        value = point.value  # type: ignore[union-attr]
                        found.append((dict(point.attributes or {}), float(value)))
        return found

    def counts(self) -> Counts:
        """What the drift.observations and drift.dropped metrics say, right now."""
        counts = Counts()
        for attributes, value in self.points("drift.observations"):
            key = (str(attributes["drift.expectation"]), str(attributes["drift.attribute"]))
            counts.observations.setdefault(key, Counter())[str(attributes["drift.outcome"])] += int(
                value
            )
        for attributes, value in self.points("drift.dropped"):
            counts.dropped[str(attributes["drift.expectation"])] += int(value)
        for attributes, value in self.points("drift.violations"):
            key = (str(attributes["drift.expectation"]), str(attributes["drift.attribute"]))
            counts.violations.setdefault(key, Counter())[str(attributes["drift.rule"])] += int(
                value
            )
        return counts

    def close(self) -> None:
        self.provider.shutdown()
        self.meter_provider.shutdown()


@dataclass
class Counts:
    #: (expectation, watch) -> outcome -> lifetime count.
    observations: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    #: (expectation, watch) -> rule -> lifetime violations.
    violations: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)

    def seen(self, expectation: str, watch: str) -> int:
        """valid + missing + invalid + dropped: every matched span, once."""
        outcomes = self.observations.get((expectation, watch), Counter())
        return sum(outcomes.values()) + self.dropped[expectation]


def make_rig(text: str, settings: Settings | None = None, *, keep: int = 100_000) -> Rig:
    provider = TracerProvider()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    processor = DriftSpanProcessor(
        loads_expectations(text),
        settings=settings or Settings(flush_interval_s=0.05),
        tracer_provider=provider,
        meter_provider=meter_provider,
    )
    sink = OwnSpanSink(keep)
    # Drift first, then the exporter: the shutdown evaluation spans still export.
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(sink))
    return Rig(provider, processor, sink, reader, meter_provider)


def rss_kib() -> int:
    """Current resident set size of this process, in KiB (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def run_instrumented(
    app: Path, env: dict[str, str], *, timeout: float = 60.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``opentelemetry-instrument python app`` with ``env`` on top of a clean OTel environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONPATH"))}
    return subprocess.run(
        [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(app)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def read_jsonl(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[index]
