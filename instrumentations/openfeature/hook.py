"""The OpenFeature hook: each flag evaluation as ``feature_flag.*`` data.

Per the OpenTelemetry feature-flag conventions, a ``feature_flag.evaluation``
event goes on the current span (the request that asked for the flag). The
same values go straight to the drift engine (``engine.observe``) for every
expectation that matches a span named ``feature_flag.evaluation`` of kind
internal and scope ``otel_drift.instrumentation.openfeature`` with those
attributes, so a flag's variant mix is a watched value::

    match:
      span_name: feature_flag.evaluation
      attributes: {feature_flag.key: new-checkout}
    watch:
      variant:
        attribute: feature_flag.result.variant
        baseline: {categories: {"on": 0.5, "off": 0.5}}   # rolling out

No span is made per evaluation: a flag can be read thousands of times a second.
"""

from __future__ import annotations

import logging
from typing import Any

from openfeature.flag_evaluation import FlagEvaluationDetails
from openfeature.hook import Hook, HookContext, HookHints
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_drift._internal import feed

from .._web.http_json import ErrorLog

_logger = logging.getLogger(__name__)

EVENT_NAME = "feature_flag.evaluation"
SCOPE = "otel_drift.instrumentation.openfeature"
KEY = "feature_flag.key"
PROVIDER = "feature_flag.provider.name"
VARIANT = "feature_flag.result.variant"
REASON = "feature_flag.result.reason"
VALUE = "feature_flag.result.value"
SET_ID = "feature_flag.set.id"
ERROR_TYPE = "error.type"

_errors = ErrorLog("the OpenFeature hook")


def _label(value: object) -> AttributeValue | None:
    # Only scalars: an object-valued flag's value stays in the process.
    if isinstance(value, bool | int | float | str):
        return value
    return None


def evaluation_attributes(
    hook_context: HookContext, details: FlagEvaluationDetails[Any]
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {KEY: details.flag_key or hook_context.flag_key}
    provider = hook_context.provider_metadata
    if provider is not None and getattr(provider, "name", None):
        attributes[PROVIDER] = str(provider.name)
    if details.variant is not None:
        attributes[VARIANT] = str(details.variant)
    else:
        value = _label(details.value)
        if value is not None:
            attributes[VALUE] = value
    if details.reason is not None:
        attributes[REASON] = str(getattr(details.reason, "value", details.reason)).lower()
    if details.error_code is not None:
        attributes[ERROR_TYPE] = str(getattr(details.error_code, "value", details.error_code))
    return attributes


class DriftFlagHook(Hook):
    """Records every flag evaluation; never raises into the evaluation."""

    def finally_after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints
    ) -> None:
        try:
            attributes = evaluation_attributes(hook_context, details)
            span = trace.get_current_span()
            if span.is_recording():
                span.add_event(EVENT_NAME, attributes)
            _observe(attributes)
        except Exception:
            _errors()


def _observe(attributes: dict[str, AttributeValue]) -> None:
    processor = feed.active_processor()
    if processor is None:
        return
    expectations = feed.expectations_for(
        processor, EVENT_NAME, SpanKind.INTERNAL, SCOPE, attributes
    )
    if not expectations:
        return
    columns: dict[str, list[object]] = {key: [value] for key, value in attributes.items()}
    for expectation in expectations:
        feed.observe(processor, expectation.name, columns, rows=1)
