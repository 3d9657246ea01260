"""Bounded-memory, mergeable sketches that summarise live telemetry for the detectors."""

from __future__ import annotations

from otel_drift._internal.sketches.categorical import CategoryCounter
from otel_drift._internal.sketches.histogram import BinnedHistogram
from otel_drift._internal.sketches.histogram_bank import HistogramBank
from otel_drift._internal.sketches.moments import RunningMoments

__all__ = ["BinnedHistogram", "CategoryCounter", "HistogramBank", "RunningMoments"]
