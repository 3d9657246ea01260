"""otel-drift: drift detection for OpenTelemetry.

Declare what your service's telemetry should look like; otel-drift compares
finished spans (and whole ML batches) with it, in process and in bounded
memory, and reports the gap as ``drift.*`` metrics and spans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_drift.version import __version__

if TYPE_CHECKING:
    from otel_drift._internal.engine.core import DriftEngine
    from otel_drift._internal.engine.results import Violation, WindowEvaluation
    from otel_drift._internal.engine.watch_state import WatchEvaluation
    from otel_drift._internal.feedback.labels import FeedbackWindow, LabelFeedback
    from otel_drift._internal.settings import Settings, settings_from_env
    from otel_drift._internal.signals.console import ConsoleReporter
    from otel_drift._internal.spans.processor import DriftSpanProcessor
    from otel_drift.expectations import ExpectationsError, load_expectations, loads_expectations

# Imported on first use: `opentelemetry-instrument` imports this package
# (through otel_drift.environment_variables) in every instrumented process,
# also where otel-drift is installed but off; numpy and the engine would add
# ~200 ms to each start for nothing.
_LAZY = {
    "ConsoleReporter": "otel_drift._internal.signals.console",
    "DriftEngine": "otel_drift._internal.engine.core",
    "DriftSpanProcessor": "otel_drift._internal.spans.processor",
    "ExpectationsError": "otel_drift.expectations",
    "FeedbackWindow": "otel_drift._internal.feedback.labels",
    "LabelFeedback": "otel_drift._internal.feedback.labels",
    "Settings": "otel_drift._internal.settings",
    "Violation": "otel_drift._internal.engine.results",
    "WatchEvaluation": "otel_drift._internal.engine.watch_state",
    "WindowEvaluation": "otel_drift._internal.engine.results",
    "load_expectations": "otel_drift.expectations",
    "loads_expectations": "otel_drift.expectations",
    "settings_from_env": "otel_drift._internal.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_drift' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def get_engine() -> DriftEngine | None:
    """The engine attached by ``opentelemetry-instrument`` (None when otel-drift is off).

    Hand whole arrays to it without per-row Python::

        engine = otel_drift.get_engine()
        if engine is not None:
            engine.observe("credit-model", {"income": incomes, "age": ages})
    """
    from otel_drift._internal.feed import active_processor  # noqa: PLC0415

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
