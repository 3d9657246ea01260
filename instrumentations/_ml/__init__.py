"""Shared machinery of otel-drift's ML instrumentations (sklearn, torch, ...).

Not an instrumentation itself: :class:`ModelInstrumentor` (import hooks,
wrap/unwrap) and :class:`ModelCallRecorder` (one span per model call, features
and prediction handed whole to the engine, constraint violations as span
events).
"""

from __future__ import annotations

from .inputs import Features, features_of
from .instrumentor import ModelInstrumentor
from .naming import model_identity, name_model
from .recorder import ModelCall, ModelCallRecorder, call_quietly

__all__ = [
    "Features",
    "ModelCall",
    "ModelCallRecorder",
    "ModelInstrumentor",
    "call_quietly",
    "features_of",
    "model_identity",
    "name_model",
]
