"""LightGBM instrumentation: ``Booster.predict`` and the sklearn API (``LGBMClassifier``...).

One span per call (``LGBMClassifier.predict`` calls ``predict_proba`` and the
Booster inside: still one). A Booster's ``feature_name()`` names the features
of array input; a DataFrame's columns name them otherwise. Input given as a
file path is not read (the span has no features).

    from otel_drift.instrumentation.lightgbm import LightGBMInstrumentor
    LightGBMInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Collection
from types import ModuleType
from typing import Any

from .._ml import ModelInstrumentor, features_of
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
        self.patcher.wrap(
            basic.Booster, "predict", self.inference_wrapper("predict", _features, _INPUT_KEYWORDS)
        )

    def _on_sklearn(self, module: ModuleType) -> None:
        base = module.LGBMModel
        for value in list(vars(module).values()):
            if not (isinstance(value, type) and issubclass(value, base)):
                continue
            self.wrap_inherited(
                value,
                SKLEARN_INFERENCE,
                QUIET,
                "lightgbm",
                features=_features,
                keywords=_INPUT_KEYWORDS,
            )


#: Where the input is when it is not passed first.
_INPUT_KEYWORDS = ("data", "X")


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
