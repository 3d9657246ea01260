"""Test support: the issue's example expectations file and a real SDK pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_drift import DriftSpanProcessor, Settings, loads_expectations

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FILE = ROOT / "examples" / "demo" / "expectations.yaml"
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class Pipeline:
    provider: TracerProvider
    processor: DriftSpanProcessor
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def metric_points(self, name: str) -> list[tuple[dict[str, object], float]]:
        data = self.metrics.get_metrics_data()
        found: list[tuple[dict[str, object], float]] = []
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            found.append((dict(point.attributes or {}), point.value))  # type: ignore[union-attr]
        return found


def make_pipeline(text: str, settings: Settings | None = None) -> Pipeline:
    provider = TracerProvider()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    processor = DriftSpanProcessor(
        loads_expectations(text),
        settings=settings or Settings(flush_interval_s=0.05),
        tracer_provider=provider,
        meter_provider=meter_provider,
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Pipeline(provider, processor, exporter, reader)
