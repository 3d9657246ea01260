"""Metric Views whose histogram buckets follow the expectations' baselines."""

from otel_drift._internal.signals.views import (
    HTTP_DURATION_HISTOGRAMS,
    drift_views,
    value_histogram_name,
)

__all__ = ["HTTP_DURATION_HISTOGRAMS", "drift_views", "value_histogram_name"]
