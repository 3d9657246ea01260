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

from collections.abc import Collection
from types import ModuleType
from typing import Any

from .._ml import ModelInstrumentor, features_of
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
        self.wrap_inherited(cls, INFERENCE, QUIET, "sklearn.", features=_features, keywords=("X",))


def _features(model: Any, x: object) -> Features | None:
    return features_of(x, getattr(model, "feature_names_in_", None))
