"""The model ``otel-drift baseline --model module:attribute`` runs for the prediction baseline.

The model is *imported*, never unpickled: ``module:attribute`` names a module
(importable from the current directory or ``sys.path``) and an attribute of
it: a fitted model, or a function returning one (called without arguments).
Importing runs that module's code, so give only a module you would run
anyway; loading a pickle of unknown origin would run arbitrary code without
saying so, which is why there is no ``--model file.pkl``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

Column = np.ndarray[Any, Any]


class ModelError(Exception):
    """The model cannot be loaded or run; the message says what to do."""


def load_model(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelError(
            f"--model {spec!r}: give module:attribute, e.g. --model mymodels:credit_model "
            "(a fitted model, or a function returning one)."
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(f"--model {spec!r}: cannot import {module_name!r}: {error}") from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            raise ModelError(f"--model {spec!r}: {module_name} has no {attribute!r}.") from error
    if isinstance(target, type) or (callable(target) and not _has_inference(target)):
        target = target()
    return target


def _has_inference(model: object) -> bool:
    return any(hasattr(model, name) for name in ("predict", "predict_proba", "run", "forward"))


def predict(model: Any, operation: str, chunk: dict[str, Column], columns: Sequence[str]) -> Any:
    """Run ``model.<operation>`` on a chunk.

    A DataFrame (when pandas is installed) unless the model was fitted on a
    plain array (it has ``n_features_in_`` but no ``feature_names_in_``).
    """
    method = getattr(model, operation, None)
    if method is None:
        raise ModelError(f"the model ({type(model).__name__}) has no {operation}().")
    fitted_on_array = hasattr(model, "n_features_in_") and not hasattr(model, "feature_names_in_")
    if not fitted_on_array:
        try:
            import pandas as pd  # noqa: PLC0415 - optional

            return method(pd.DataFrame({name: chunk[name] for name in columns}))
        except ImportError:
            pass
    return method(np.column_stack([chunk[name] for name in columns]))
