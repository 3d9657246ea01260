"""scikit-learn instrumentation: one span per inference call of a fitted estimator or Pipeline.

``predict``, ``predict_proba``, ``predict_log_proba``, ``decision_function``
and ``transform`` make a span ``"<operation> <model name>"`` with ``ml.*``
attributes, and hand the features and prediction to the expectations that
match it. Calls a model makes itself (a Pipeline's steps, ``predict`` calling
``predict_proba``) and training (``fit``, ``fit_transform``, ``score``...)
make no span.

What is wrapped: for every public scikit-learn subpackage, when it is
imported, each estimator class it exports, at the class in its MRO that
defines the method (so subclasses, yours included, are covered once).

    from otel_drift.instrumentation.sklearn import SklearnInstrumentor
    SklearnInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

from .._ml import ModelCall, ModelInstrumentor, call_quietly, features_of
from .._ml.inputs import Features
from .package import _instruments
from .version import __version__

INFERENCE = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")
#: Training and scoring call the inference methods internally: no spans from them.
QUIET = ("fit", "fit_transform", "fit_predict", "partial_fit", "score")

__all__ = ["SklearnInstrumentor", "__version__"]


class SklearnInstrumentor(ModelInstrumentor):
    module = "sklearn"
    framework = "sklearn"
    scope = "otel_drift.instrumentation.sklearn"
    instruments: Collection[str] = _instruments

    def _patch(self) -> None:
        self.patcher.on_import("sklearn", self._on_sklearn)

    def _on_sklearn(self, sklearn: ModuleType) -> None:
        # Subpackages load lazily; wrap each one's estimators as it is imported.
        for name in getattr(sklearn, "__all__", ()):
            if not name.startswith("_") and name.islower():
                self.patcher.on_import(f"sklearn.{name}", self._on_subpackage)

    def _on_subpackage(self, module: ModuleType) -> None:
        from sklearn.base import BaseEstimator  # noqa: PLC0415 - sklearn is imported by now

        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, BaseEstimator):
                self._wrap_class(value)

    def _wrap_class(self, cls: type) -> None:
        for method in (*INFERENCE, *QUIET):
            owner = next((c for c in cls.__mro__ if method in c.__dict__), None)
            if owner is None or not owner.__module__.startswith("sklearn."):
                continue
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
            if instance is None:  # called on the class, not a fitted estimator
                return wrapped(*args, **kwargs)
            x = args[0] if args else kwargs.get("X")
            call = ModelCall(
                model=instance,
                operation=operation,
                features=lambda: _features(instance, x),
            )
            return self.recorder.call(call, wrapped, args, kwargs)

        return wrapper


def _features(model: Any, x: object) -> Features | None:
    names = getattr(model, "feature_names_in_", None)
    return features_of(x, list(names) if names is not None else None)
