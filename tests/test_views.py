"""drift_views: buckets follow the baselines, for our histograms and contrib's HTTP durations."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from otel_drift import loads_expectations
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
