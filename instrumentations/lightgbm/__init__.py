"""LightGBM instrumentation: ``Booster.predict`` and the sklearn API (``LGBMClassifier``...).

One span per call (``LGBMClassifier.predict`` calls ``predict_proba`` and the
Booster inside: still one). A Booster's ``feature_name()`` names the features
of array input; a DataFrame's columns name them otherwise. Input given as a
file path is not read (the span has no features).

    from otel_drift.instrumentation.lightgbm import LightGBMInstrumentor
    LightGBMInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

from .._ml import ModelCall, ModelInstrumentor, call_quietly, features_of
from .._ml.inputs import Features
from .package import _instruments
from .version import __version__

__all__ = ["LightGBMInstrumentor", "__version__"]

SKLEARN_INFERENCE = ("predict", "predict_proba")
QUIET = ("fit",)


class LightGBMInstrumentor(ModelInstrumentor):
    module = "lightgbm"
    framework = "lightgbm"
    scope = "otel_drift.instrumentation.lightgbm"
    instruments: Collection[str] = _instruments

    def _patch(self) -> None:
        self.patcher.on_import("lightgbm.basic", self._on_basic)
        self.patcher.on_import("lightgbm.sklearn", self._on_sklearn)

    def _on_basic(self, basic: ModuleType) -> None:
        self.patcher.wrap(basic.Booster, "predict", self._inference("predict"))

    def _on_sklearn(self, module: ModuleType) -> None:
        base = module.LGBMModel
        for value in list(vars(module).values()):
            if not (isinstance(value, type) and issubclass(value, base)):
                continue
            for method in (*SKLEARN_INFERENCE, *QUIET):
                owner = next((c for c in value.__mro__ if method in c.__dict__), None)
                if owner is not None and owner.__module__.startswith("lightgbm"):
                    wrapper = self._quiet if method in QUIET else self._inference(method)
                    self.patcher.wrap(owner, method, wrapper)

    @staticmethod
    def _quiet(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return call_quietly(wrapped, args, kwargs)

    def _inference(self, operation: str) -> Callable[..., Any]:
        def wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            if instance is None:
                return wrapped(*args, **kwargs)
            data = args[0] if args else kwargs.get("data", kwargs.get("X"))
            call = ModelCall(
                model=instance, operation=operation, features=lambda: _features(instance, data)
            )
            return self.recorder.call(call, wrapped, args, kwargs)

        return wrapper


def _features(model: Any, data: object) -> Features | None:
    if isinstance(data, str):  # a file path: LightGBM reads it itself
        return None
    names: Any = None
    feature_name = getattr(model, "feature_name", None)
    if callable(feature_name):
        names = feature_name()
    elif getattr(model, "feature_name_", None) is not None:
        names = model.feature_name_
    return features_of(data, list(names) if names is not None else None)
