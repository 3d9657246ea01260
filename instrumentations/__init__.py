"""otel-drift's own instrumentations, installed as ``otel_drift.instrumentation``.

This folder is mapped onto the ``otel_drift.instrumentation`` package by
``pyproject.toml``; nothing here is ever importable as a top-level
``instrumentations`` module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._ml.naming import name_model
    from ._ml.recorder import last_model_call

# Imported on first use: ``opentelemetry-instrument`` imports this package for
# each of our instrumentors at start-up, also where otel-drift is off; the ML
# recorder would bring numpy and the engine along for nothing.
_LAZY = {
    "last_model_call": "._ml.recorder",
    "name_model": "._ml.naming",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = ["last_model_call", "name_model"]
