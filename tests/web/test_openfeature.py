"""The OpenFeature hook: feature_flag.* events on the current span, variant mix watched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openfeature import api
from openfeature.hook import Hook
from otel_drift.instrumentation.openfeature import OpenFeatureInstrumentor
from otel_drift.instrumentation.openfeature.hook import DriftFlagHook

from tests.support import Pipeline
from tests.web.support import active_pipeline, load_example

FLAGS = """
version: 1
expectations:
  - name: new-checkout-flag
    match:
      span_name: feature_flag.evaluation
      attributes: {feature_flag.key: new-checkout}
    window: {spans: 200}
    min_samples: 100
    watch:
      variant:
        attribute: feature_flag.result.variant
        baseline: {categories: {"on": 0.5, "off": 0.5}}
        warning: 0.2
        critical: 0.35
"""

flags = load_example("flags")


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    with active_pipeline(FLAGS, monkeypatch) as built:
        flags.install()
        OpenFeatureInstrumentor().instrument()
        try:
            yield built
        finally:
            OpenFeatureInstrumentor().uninstrument()
            api.clear_providers()


def _variant_statuses(pipeline: Pipeline) -> list[int]:
    pipeline.processor.force_flush()
    return [
        w.status
        for window in pipeline.processor.engine.history
        for w in window.watches
        if w.watch == "variant"
    ]


def test_evaluation_is_an_event_on_the_current_span(pipeline: Pipeline) -> None:
    tracer = pipeline.provider.get_tracer("test")
    with tracer.start_as_current_span("request"):
        flags.new_checkout(user=3, rollout=100)
    (span,) = pipeline.spans.get_finished_spans()
    (event,) = span.events
    assert event.name == "feature_flag.evaluation"
    assert dict(event.attributes or {}) == {
        "feature_flag.key": "new-checkout",
        "feature_flag.provider.name": "In-Memory Provider",
        "feature_flag.result.variant": "on",
        "feature_flag.result.reason": "targeting_match",
    }


def test_rolling_out_flag_is_ok_and_a_stuck_one_critical(pipeline: Pipeline) -> None:
    for user in range(200):
        flags.new_checkout(user, rollout=50)
    assert _variant_statuses(pipeline) == [0]
    for user in range(200):
        flags.new_checkout(user, rollout=0)  # a broken targeting rule: everyone gets "off"
    assert _variant_statuses(pipeline) == [0, 2]


def test_uninstrument_removes_only_its_own_hook(pipeline: Pipeline) -> None:
    mine = Hook()
    api.add_hooks([mine])
    assert any(isinstance(hook, DriftFlagHook) for hook in api.get_hooks())
    OpenFeatureInstrumentor().uninstrument()
    assert api.get_hooks() == [mine]
    OpenFeatureInstrumentor().instrument()
    api.clear_hooks()
