"""Which model a call belongs to: its name and version on the span.

By default a model is known by its class name (``RandomForestClassifier``);
``name_model`` gives it the name and version an expectations file matches on
(``match.attributes: {ml.model.name: credit, ml.model.version: "3"}``).
"""

from __future__ import annotations

import logging

_logger = logging.getLogger(__name__)

#: Attributes set on the model object by :func:`name_model` (or by hand).
NAME_ATTRIBUTE = "_otel_drift_name"
VERSION_ATTRIBUTE = "_otel_drift_version"


def name_model(model: object, name: str, version: str | int | None = None) -> object:
    """Name a model (and optionally its version) for its spans and expectations.

    Returns the model, so it chains: ``model = name_model(Pipeline(...), "credit", "3")``.
    Works on any object that takes attributes (estimators, Boosters, torch
    modules, ONNX Runtime sessions); never raises.
    """
    try:
        setattr(model, NAME_ATTRIBUTE, str(name))
        setattr(model, VERSION_ATTRIBUTE, None if version is None else str(version))
    except Exception:  # e.g. a class with __slots__
        _logger.warning("otel-drift: cannot name model %s: it takes no attributes", type(model))
    return model


def model_identity(model: object, default: str | None = None) -> tuple[str, str | None]:
    """(name, version) of a model: the declared ones, else ``default`` or its class name."""
    name = getattr(model, NAME_ATTRIBUTE, None)
    version = getattr(model, VERSION_ATTRIBUTE, None)
    if not isinstance(name, str):
        name = default or type(model).__name__
    return name, version if isinstance(version, str) else None
