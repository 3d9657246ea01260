"""otel-drift: drift detection for OpenTelemetry.

Declare what your service's telemetry should look like; otel-drift compares
finished spans (and whole ML batches) with it, in process and in bounded
memory, and reports the gap as ``drift.*`` metrics and spans.
"""

from __future__ import annotations

from otel_drift._internal.auto import active_processor
from otel_drift._internal.engine import DriftEngine, Violation, WindowEvaluation
from otel_drift._internal.feedback import FeedbackWindow, LabelFeedback
from otel_drift._internal.processor import DriftSpanProcessor
from otel_drift._internal.settings import Settings, settings_from_env
from otel_drift._internal.signals import ConsoleReporter
from otel_drift._internal.watch_state import WatchEvaluation
from otel_drift.expectations import ExpectationsError, load_expectations, loads_expectations
from otel_drift.version import __version__


def get_engine() -> DriftEngine | None:
    """The engine attached by ``opentelemetry-instrument`` (None when otel-drift is off).

    Hand whole arrays to it without per-row Python::

        engine = otel_drift.get_engine()
        if engine is not None:
            engine.observe("credit-model", {"income": incomes, "age": ages})
    """
    processor = active_processor()
    return processor.engine if processor is not None else None


__all__ = [
    "ConsoleReporter",
    "DriftEngine",
    "DriftSpanProcessor",
    "ExpectationsError",
    "FeedbackWindow",
    "LabelFeedback",
    "Settings",
    "Violation",
    "WatchEvaluation",
    "WindowEvaluation",
    "__version__",
    "get_engine",
    "load_expectations",
    "loads_expectations",
    "settings_from_env",
]
