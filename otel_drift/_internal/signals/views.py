"""Metric Views whose histogram buckets follow the baselines' bins.

``opentelemetry-instrument`` builds its MeterProvider with no hook for Views,
so there otel-drift's own histograms carry the edges as
``explicit_bucket_boundaries_advisory``. Users who build their own
MeterProvider pass ``drift_views(...)`` to it, which also re-buckets
contrib's HTTP duration histograms at the baselines' latency edges, so a
dashboard's latency heatmap lines up with the drift bins.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

from otel_drift._internal.expectations.model import BinnedBaseline, Expectation, ExpectationsFile
from otel_drift._internal.semconv import VALUE_HISTOGRAM_PREFIX

#: Contrib's HTTP duration histograms: (name, unit), old and new semantic conventions.
HTTP_DURATION_HISTOGRAMS = {
    "server": (("http.server.duration", "ms"), ("http.server.request.duration", "s")),
    "client": (("http.client.duration", "ms"), ("http.client.request.duration", "s")),
}
_TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
#: A histogram with more buckets than this costs more than it tells.
MAX_BOUNDARIES = 64


def value_histogram_name(expectation: str, watch: str) -> str:
    """The instrument name of a watched value's histogram (opt-in, see settings)."""
    return f"{VALUE_HISTOGRAM_PREFIX}{expectation}.{watch}"


def _duration_edges_seconds(expectations: Iterable[Expectation], kind: str) -> list[float]:
    edges: set[float] = set()
    for expectation in expectations:
        if expectation.match.span_kind != kind:
            continue
        for watch in expectation.watch:
            if watch.source.kind == "span.duration" and isinstance(watch.baseline, BinnedBaseline):
                factor = _TO_SECONDS[watch.source.unit]
                edges.update(edge * factor for edge in watch.baseline.edges)
    return sorted(edges)[:MAX_BOUNDARIES]


def drift_views(expectations: ExpectationsFile) -> list[View]:
    """Views for a MeterProvider you build yourself.

    One per otel-drift value histogram (buckets = the baseline's edges), and
    one per contrib HTTP duration histogram whose buckets become the union of
    the latency edges of the server (or client) expectations.
    """
    views: list[View] = []
    for expectation in expectations.expectations:
        for watch in expectation.watch:
            if isinstance(watch.baseline, BinnedBaseline):
                views.append(
                    View(
                        instrument_name=value_histogram_name(expectation.name, watch.name),
                        aggregation=ExplicitBucketHistogramAggregation(watch.baseline.edges),
                    )
                )
    for kind, histograms in HTTP_DURATION_HISTOGRAMS.items():
        seconds = _duration_edges_seconds(expectations.expectations, kind)
        if not seconds:
            continue
        for name, unit in histograms:
            scale = 1e3 if unit == "ms" else 1.0
            views.append(
                View(
                    instrument_name=name,
                    aggregation=ExplicitBucketHistogramAggregation(
                        [round(edge * scale, 9) for edge in seconds]
                    ),
                )
            )
    return views
