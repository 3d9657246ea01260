"""XGBoost instrumentation: ``Booster.predict``/``inplace_predict`` and the sklearn API.

One span per call (``XGBClassifier.predict`` calls the Booster inside: still
one). A ``DMatrix``'s data is read back as sparse columns whose unstored
entries are its missing values; its ``feature_names`` name the features.

    from otel_drift.instrumentation.xgboost import XGBoostInstrumentor
    XGBoostInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Collection
from types import ModuleType
from typing import Any

from .._ml import ModelInstrumentor, features_of
from .._ml.inputs import Features
from .package import _instruments_any
from .version import __version__

__all__ = ["XGBoostInstrumentor", "__version__"]

SKLEARN_INFERENCE = ("predict", "predict_proba")
QUIET = ("fit",)


class XGBoostInstrumentor(ModelInstrumentor):
    module = "xgboost"
    framework = "xgboost"
    scope = "otel_drift.instrumentation.xgboost"
    # The dependency check accepts either distribution (see package.py).
    instruments: Collection[str] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _check_dependency_conflicts(self) -> Any:
        from opentelemetry.instrumentation.dependencies import (  # noqa: PLC0415
            get_dependency_conflicts,
        )

        return get_dependency_conflicts([], _instruments_any)

    def _patch(self) -> None:
        self.patcher.on_import("xgboost.core", self._on_core)
        self.patcher.on_import("xgboost.sklearn", self._on_sklearn)

    def _on_core(self, core: ModuleType) -> None:
        for method in ("predict", "inplace_predict"):
            self.patcher.wrap(
                core.Booster, method, self.inference_wrapper(method, _features, _INPUT_KEYWORDS)
            )

    def _on_sklearn(self, module: ModuleType) -> None:
        base = module.XGBModel
        for value in list(vars(module).values()):
            if not (isinstance(value, type) and issubclass(value, base)):
                continue
            self.wrap_inherited(
                value,
                SKLEARN_INFERENCE,
                QUIET,
                "xgboost",
                features=_features,
                keywords=_INPUT_KEYWORDS,
            )


#: Where the input is when it is not passed first.
_INPUT_KEYWORDS = ("data", "X")


def _features(model: Any, data: object) -> Features | None:
    if type(data).__name__ in ("DMatrix", "QuantileDMatrix") and hasattr(data, "get_data"):
        names = getattr(data, "feature_names", None)
        return features_of(data.get_data(), names, implicit=float("nan"))
    names = getattr(model, "feature_names", None)
    if names is None:
        names = getattr(model, "feature_names_in_", None)
    try:
        listed = list(names) if names is not None else None
    except TypeError:
        listed = None
    return features_of(data, listed)
