"""What drift action hooks receive (``OTEL_DRIFT_ACTIONS``, ``otel_drift_actions`` entry points)."""

from otel_drift._internal.signals.actions import DriftTransition

__all__ = ["DriftTransition"]
