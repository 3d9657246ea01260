"""What to hand the engine for a model call: resolved once per model, cached.

``DriftSpanProcessor.expectations_for`` says which expectations a model's
span matches; for each, the watched values that ML calls feed (features,
their missing-value rate, the prediction) become a small plan. Watches of
other sources get no column (the engine counts them missing), as a span
that lacks the attribute would.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_drift._internal.expectations.model import Constraints, Expectation, Watch


@dataclass(frozen=True)
class WatchPlan:
    name: str
    #: "feature", "missing" or "prediction".
    role: str
    feature: str | int | None
    output: int | None
    constraints: Constraints


@dataclass(frozen=True)
class ExpectationPlan:
    expectation: str
    watches: tuple[WatchPlan, ...]


_ROLES = {"ml.feature": "feature", "ml.missing": "missing", "ml.prediction": "prediction"}


def plan_for(expectation: Expectation) -> ExpectationPlan:
    watches = []
    for watch in expectation.watch:
        role = _ROLES.get(watch.source.kind)
        if role is None:
            continue
        watches.append(_watch_plan(watch, role))
    return ExpectationPlan(expectation.name, tuple(watches))


def _watch_plan(watch: Watch, role: str) -> WatchPlan:
    return WatchPlan(
        name=watch.name,
        role=role,
        feature=watch.source.feature,
        output=watch.source.output,
        constraints=watch.constraints,
    )
