"""LightGBM instrumentation: ``Booster.predict`` and the sklearn API (``LGBMClassifier``...).

One span per call (``LGBMClassifier.predict`` calls ``predict_proba`` and the
Booster inside: still one). A DataFrame's columns name the features of
DataFrame input; the model's names (``Booster.feature_name()``) name those of
array input, unless they are LightGBM's own ``Column_0, Column_1, ...``, given
when the training data had no names: such input has no names, and its
features are known by index (``feature: 3`` or ``"3"``), as with any model
trained on arrays. Whatever the input, a feature also answers to the model's
spelling of its name: LightGBM writes a space as ``_`` (``mean radius`` is
``mean_radius``) and calls unnamed ones ``Column_<i>``. Input given as a file
path is not read (the span has no features).

    from otel_drift.instrumentation.lightgbm import LightGBMInstrumentor
    LightGBMInstrumentor().instrument()
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
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
    names = _model_names(model)
    automatic = names is not None and _automatic(names)
    features = features_of(data, None if automatic else names)
    if features is None or names is None or len(names) != features.width:
        return features
    return _Spellings(features, names)


def _model_names(model: Any) -> list[str] | None:
    """The feature names LightGBM keeps (a Booster's, or a fitted LGBMModel's Booster's)."""
    feature_name = getattr(model, "feature_name", None)
    # An LGBMModel's feature_name_ is its Booster's; None when it is not fitted.
    names: Any = feature_name() if callable(feature_name) else getattr(model, "feature_name_", None)
    return [str(n) for n in names] if names is not None else None


#: The names LightGBM gives the features of training data that had none.
_AUTOMATIC = re.compile(r"Column_(\d+)")


def _automatic(names: Sequence[str]) -> bool:
    """True for ``Column_0, Column_1, ...``: the training data had no feature names."""
    for i, name in enumerate(names):
        match = _AUTOMATIC.fullmatch(name)
        if match is None or int(match.group(1)) != i:
            return False
    return True


class _Spellings(Features):
    """An input's features, also found by the model's spelling of their names.

    A watch written from the training data (``mean radius``), from the model
    (``mean_radius``, ``Column_3``) or by index finds the same column. The
    model's names are positional: LightGBM reads input columns in order.
    """

    def __init__(self, features: Features, model_names: Sequence[str]) -> None:
        # The same input, read the same way: only the name lookup differs.
        self.__dict__.update(features.__dict__)
        # Spelled as LightGBM does (each space as "_"); the input's own names first.
        spellings = {name: i for i, name in enumerate(model_names)}
        spellings.update({_spelled(name): i for i, name in enumerate(features.names or ())})
        self._spellings = spellings

    def position(self, feature: str | int) -> int | None:
        found = super().position(feature)
        if found is None and isinstance(feature, str):
            found = self._spellings.get(_spelled(feature))
        return found


def _spelled(name: str) -> str:
    """A feature name as LightGBM keeps it: each space replaced with "_"."""
    return name.replace(" ", "_")
