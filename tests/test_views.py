"""drift_views: buckets follow the baselines, for our histograms and contrib's HTTP durations."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift.views import drift_views
from tests.support import EXAMPLE_FILE


def test_contrib_http_duration_is_rebucketed_at_the_latency_edges() -> None:
    views = drift_views(loads_expectations(EXAMPLE_FILE.read_text()))
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=views)
    meter = provider.get_meter("opentelemetry.instrumentation.flask")
    old = meter.create_histogram("http.server.duration", unit="ms")
    new = meter.create_histogram("http.server.request.duration", unit="s")
    old.record(30.0)
    new.record(0.030)
    data = reader.get_metrics_data()
    assert data is not None
    bounds = {}
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        point = metric.data.data_points[0]
        assert isinstance(point, HistogramDataPoint)
        bounds[metric.name] = list(point.explicit_bounds)
    assert bounds["http.server.duration"] == [0, 10, 25, 50, 100, 250, 1000]
    assert bounds["http.server.request.duration"] == [0, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]
    provider.shutdown()


def test_value_histograms_use_the_baseline_edges_as_advisory_buckets() -> None:
    # No View here: the buckets come from the instrument's advisory boundaries,
    # which is all opentelemetry-instrument's MeterProvider will honour.
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider()
    processor = DriftSpanProcessor(
        loads_expectations(EXAMPLE_FILE.read_text()),
        settings=Settings(value_histograms=True, flush_interval_s=3600),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    tracer_provider.add_span_processor(processor)
    tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.flask")
    for duration_ms in (5, 12, 30, 30, 2000):
        span = tracer.start_span(
            "GET /checkout",
            kind=SpanKind.SERVER,
            attributes={"http.route": "/checkout", "http.status_code": 200},
            start_time=0,
        )
        span.end(end_time=duration_ms * 1_000_000)
    assert processor.force_flush()
    data = reader.get_metrics_data()
    assert data is not None
    (histogram,) = [
        m
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "drift.value.checkout.latency"
    ]
    point = histogram.data.data_points[0]
    assert isinstance(point, HistogramDataPoint)
    assert list(point.explicit_bounds) == [0, 10, 25, 50, 100, 250, 1000]
    assert list(point.bucket_counts) == [0, 1, 1, 2, 0, 0, 0, 1]
    tracer_provider.shutdown()
    meter_provider.shutdown()
