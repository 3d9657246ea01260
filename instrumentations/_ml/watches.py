"""What a model call feeds each expectation it matches: resolved once per model, cached.

``feed.expectations_for`` says which expectations a model's span matches; of
each, the watched values that ML calls feed (features, their missing-value
rate, the prediction) become its :class:`ModelWatches`. Watches of other
sources get no column (the engine counts them missing), as a span that lacks
the attribute would.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_drift._internal.expectations.model import Constraints, Expectation, SourceKind


@dataclass(frozen=True)
class ModelWatch:
    """One watched value a model call feeds."""

    name: str
    #: "feature", "missing" or "prediction".
    role: str
    feature: str | int | None
    output: int | None
    constraints: Constraints


@dataclass(frozen=True)
class ModelWatches:
    """The watched values of one expectation that a model call feeds."""

    expectation: str
    watches: tuple[ModelWatch, ...]


_ROLES: dict[SourceKind, str] = {
    "ml.feature": "feature",
    "ml.missing": "missing",
    "ml.prediction": "prediction",
}


def model_watches(expectation: Expectation) -> ModelWatches:
    watches = []
    for watch in expectation.watch:
        role = _ROLES.get(watch.source.kind)
        if role is None:
            continue
        watches.append(
            ModelWatch(
                name=watch.name,
                role=role,
                feature=watch.source.feature,
                output=watch.source.output,
                constraints=watch.constraints,
            )
        )
    return ModelWatches(expectation.name, tuple(watches))
