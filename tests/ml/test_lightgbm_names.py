"""LightGBM feature names: a watch finds its column whatever names the model kept.

LightGBM calls the features of unnamed training data (numpy arrays)
``Column_0, Column_1, ...`` and writes a space of a real name as ``_``
(``mean radius`` is ``mean_radius``). Real models trained on scikit-learn's
breast cancer data, with the Booster API and with ``LGBMClassifier``, on numpy
arrays, on a DataFrame or on arrays named with ``feature_name=``, predict on
numpy arrays and on DataFrames; each watch names ``mean radius`` in one way,
and its ``max`` rule counts the rows above 20 when it found the column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from otel_drift.instrumentation import name_model

from tests.ml.support import Drift, drift, need

lightgbm = need("lightgbm")
need("pandas")

from otel_drift.instrumentation.lightgbm import LightGBMInstrumentor  # noqa: E402

#: Each watch names the first feature, ``mean radius``, its own way.
EXPECTATIONS = """
version: 1
expectations:
  - name: m
    match: {attributes: {ml.model.name: m}}
    window: {spans: 100000}
    watch:
      by_index: {feature: 0, constraints: {max: 20}}
      by_digits: {feature: "0", constraints: {max: 20}}
      by_name: {feature: mean radius, constraints: {max: 20}}
      by_model_name: {feature: mean_radius, constraints: {max: 20}}
      by_automatic_name: {feature: Column_0, constraints: {max: 20}}
"""

PARAMS = {"n_estimators": 5, "num_leaves": 4, "verbose": -1, "n_jobs": 1}


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer  # noqa: PLC0415

    bundle = load_breast_cancer(as_frame=True)
    return bundle.data, bundle.target.to_numpy()


def _booster(names: str) -> Any:
    frame, target = _data()
    params = {k: v for k, v in PARAMS.items() if k != "n_estimators"}
    if names == "frame":
        dataset = lightgbm.Dataset(frame, target)
    elif names == "feature_name":
        dataset = lightgbm.Dataset(frame.to_numpy(), target, feature_name=list(frame.columns))
    else:
        dataset = lightgbm.Dataset(frame.to_numpy(), target)
    return lightgbm.train(params, dataset, num_boost_round=PARAMS["n_estimators"])


def _classifier(names: str) -> Any:
    frame, target = _data()
    model = lightgbm.LGBMClassifier(**PARAMS)
    if names == "frame":
        return model.fit(frame, target)
    if names == "feature_name":
        return model.fit(frame.to_numpy(), target, feature_name=list(frame.columns))
    return model.fit(frame.to_numpy(), target)


TRAINED: dict[str, Callable[[str], Any]] = {"booster": _booster, "classifier": _classifier}


@pytest.fixture
def pipeline() -> Iterator[Drift]:
    built = drift(EXPECTATIONS)
    LightGBMInstrumentor().instrument(
        tracer_provider=built.provider, drift_processor=built.processor
    )
    yield built
    LightGBMInstrumentor().uninstrument()
    built.shutdown()


def _found(pipeline: Drift) -> dict[str, int]:
    """Watch -> rows its max rule counted (only watches that found a column break it)."""
    found: dict[str, int] = {}
    (span,) = pipeline.model_spans()
    for event in span.events:
        attributes = dict(event.attributes or {})
        count = attributes["drift.violations"]
        assert isinstance(count, int)
        found[str(attributes["drift.attribute"])] = count
    return found


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("api", sorted(TRAINED))
@pytest.mark.parametrize("names", ["none", "frame", "feature_name"])
@pytest.mark.parametrize("served", ["numpy", "frame"])
def test_a_watch_finds_its_feature(pipeline: Drift, api: str, names: str, served: str) -> None:
    model = name_model(TRAINED[api](names), "m")
    frame, _ = _data()
    above = int((frame["mean radius"] > 20).sum())
    assert above > 0
    model.predict(frame.to_numpy() if served == "numpy" else frame)
    if names == "none" and served == "numpy":
        # No names anywhere: by index (LightGBM's Column_<i> is one).
        expected = {"by_index", "by_digits", "by_automatic_name"}
    elif names == "none":
        # The DataFrame names it; the model's Column_<i> still does.
        expected = {"by_index", "by_name", "by_model_name", "by_automatic_name"}
    else:
        # Real names, as given or as LightGBM spelled them; never Column_<i>.
        expected = {"by_index", "by_name", "by_model_name"}
    assert _found(pipeline) == dict.fromkeys(expected, above)


def test_model_names_are_not_reported_for_unnamed_training(pipeline: Drift) -> None:
    """Trained on arrays: the input has no names, the span counts the features."""
    booster = name_model(_booster("none"), "m")
    assert booster.feature_name()[:2] == ["Column_0", "Column_1"]
    frame, _ = _data()
    prediction = booster.predict(frame.to_numpy())
    assert prediction.shape == (len(frame),)
    (span,) = pipeline.model_spans()
    assert dict(span.attributes or {})["ml.features"] == 30
    pipeline.flush()
    states = {s.watch.name: s for s in pipeline.processor.engine.watch_states()}
    assert states["by_index"].total_valid == len(frame)
    assert states["by_digits"].total_valid == len(frame)
    assert states["by_name"].total_valid == 0  # nothing names it


def test_a_model_named_column_in_another_order_keeps_its_names(pipeline: Drift) -> None:
    """Names that only look automatic (not Column_0, Column_1, ... in order) are real."""
    frame, target = _data()
    x = frame.to_numpy()[:, :3]
    named = [f"Column_{i}" for i in (2, 0, 1)]
    booster = lightgbm.train(
        {"verbose": -1, "num_leaves": 4},
        lightgbm.Dataset(x, target, feature_name=named),
        num_boost_round=2,
    )
    name_model(booster, "m")
    booster.predict(x)
    found = _found(pipeline)
    # Column_0 is the second column here (mean texture).
    assert found["by_index"] == int((x[:, 0] > 20).sum())
    assert found.get("by_automatic_name", 0) == int((x[:, 1] > 20).sum())
    assert "by_digits" not in found  # a named input: "0" is no name of it
