"""otel-drift's own instrumentations, installed as ``otel_drift.instrumentation``.

This folder is mapped onto the ``otel_drift.instrumentation`` package by
``pyproject.toml``; nothing here is ever importable as a top-level
``instrumentations`` module.
"""

from __future__ import annotations

from ._ml.naming import name_model
from ._ml.recorder import last_model_call

__all__ = ["last_model_call", "name_model"]
