"""Model expectations in the file: sources ml.feature / ml.missing / ml.prediction."""

from __future__ import annotations

import pytest

from otel_drift import ExpectationsError, loads_expectations

VALID = """
version: 1
expectations:
  - name: credit
    match: {attributes: {ml.model.name: credit, ml.model.version: "3"}}
    watch:
      income: {feature: income, baseline: {quantiles: {0.0: 0, 0.5: 10, 1.0: 99}}}
      third: {source: ml.feature, feature: 2, constraints: {min: 0}}
      income_missing:
        source: ml.missing
        feature: income
        baseline: {bins: [0, 0.5, 1], fractions: [0.98, 0.02]}
        method: linf
      score:
        source: ml.prediction
        output: 1
        baseline: {bins: [0, 0.5, 1], fractions: [0.5, 0.5]}
      label: {source: ml.prediction, baseline: {categories: {"0": 0.6, "1": 0.4}}}
"""


def test_model_sources_load() -> None:
    (expectation,) = loads_expectations(VALID).expectations
    watches = {w.name: w for w in expectation.watch}
    assert watches["income"].source.kind == "ml.feature"
    assert watches["income"].source.feature == "income"
    assert watches["third"].source.feature == 2
    assert watches["income_missing"].kind == "numeric"
    assert watches["score"].source.output == 1
    assert watches["label"].kind == "categorical"
    assert watches["label"].source.attributes == ("ml.prediction",)


@pytest.mark.parametrize(
    ("watch", "message"),
    [
        ("{source: ml.feature, constraints: {min: 0}}", "is required with source: ml.feature"),
        ("{source: ml.missing, constraints: {max: 0}}", "is required with source: ml.missing"),
        ("{attribute: x, feature: a, constraints: {min: 0}}", "has no effect with source"),
        ("{feature: a, output: 1, constraints: {min: 0}}", "applies only to source: ml.prediction"),
        ("{feature: -1, constraints: {min: 0}}", "feature"),
    ],
)
def test_misplaced_model_fields_are_explained(watch: str, message: str) -> None:
    text = f"""
version: 1
expectations:
  - name: m
    match: {{}}
    watch:
      w: {watch}
"""
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text)
    assert message in str(caught.value)


def test_own_scopes_are_matched_for_instrumentations_but_skipped_by_on_end() -> None:
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    from otel_drift import DriftSpanProcessor, Settings  # noqa: PLC0415

    processor = DriftSpanProcessor(
        loads_expectations(VALID), settings=Settings(flush_interval_s=3600), emit_metrics=False
    )
    try:
        scope = "otel_drift.instrumentation.sklearn"
        attributes = {"ml.model.name": "credit", "ml.model.version": "3"}
        found = processor.expectations_for("predict credit", SpanKind.INTERNAL, scope, attributes)
        assert found == ["credit"]
        # The span path still ignores our scopes: the instrumentation fed the engine already.
        assert not processor._matcher.candidates_for(("predict credit", SpanKind.INTERNAL, scope))
    finally:
        processor.shutdown()
