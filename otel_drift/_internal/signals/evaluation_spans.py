"""``EvaluationSpans``: one ``drift.evaluation`` span per closed window and expectation.

Each watched value's score and status become attributes of the span (capped,
see ``MAX_EVALUATION_ATTRIBUTES``), and each drifting value adds a
``drift.detected`` event with its full detail, so drift is readable in any
trace backend (Jaeger, Tempo) without a metrics pipeline. A critical value
sets the span's status to ERROR, with what broke in its description.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from otel_drift._internal import semconv as sc
from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.engine.watch_state import WatchEvaluation
from otel_drift._internal.engine.what_moved import explained_text
from otel_drift._internal.semconv import OWN_SCOPE, STATUS_NAMES
from otel_drift.version import __version__

#: Attributes an evaluation span may carry. The SDK keeps 128 by default and
#: drops the rest with a warning; a model with 30 features has 60+ watched
#: values, so the least interesting ones (ok, then warning) are left out first
#: and counted in ``drift.watches.omitted``. The events carry the full detail
#: of every drifting value.
MAX_EVALUATION_ATTRIBUTES = 120
MAX_EVALUATION_EVENTS = 100


def _describe(evaluation: WatchEvaluation) -> str:
    if evaluation.score is None:
        return f"{evaluation.watch}: not enough data ({evaluation.samples} values)"
    threshold = evaluation.critical if evaluation.level == 2 else evaluation.warning
    moved = f"; {', '.join(evaluation.top_changes)}" if evaluation.top_changes else ""
    if evaluation.explained:
        moved += f"; {explained_text(evaluation.explained)}"
    return (
        f"{evaluation.watch}: {STATUS_NAMES[evaluation.status]} "
        f"({evaluation.method} {evaluation.score:.4g}, threshold {threshold:g}, "
        f"{evaluation.samples} values{moved})"
    )


def _compact(evaluation: WatchEvaluation) -> str:
    """One omitted value as ``watch\tstatus\tmethod\tsamples\tscore\tp_value``."""
    score = "" if evaluation.score is None else f"{evaluation.score:.6g}"
    p = "" if evaluation.p_value is None else f"{evaluation.p_value:.3g}"
    return "\t".join(
        (
            evaluation.watch,
            str(evaluation.status),
            evaluation.method,
            str(evaluation.samples),
            score,
            p,
        )
    )


def _watch_attributes(evaluation: WatchEvaluation) -> dict[str, AttributeValue]:
    prefix = f"{sc.WATCH_PREFIX}{evaluation.watch}"
    attributes: dict[str, AttributeValue] = {
        f"{prefix}.status": evaluation.status,
        f"{prefix}.method": evaluation.method,
        f"{prefix}.samples": evaluation.samples,
    }
    if evaluation.score is not None:
        attributes[f"{prefix}.score"] = evaluation.score
    if evaluation.p_value is not None:
        attributes[f"{prefix}.p_value"] = evaluation.p_value
    if evaluation.top_changes:
        attributes[f"{prefix}.top_changes"] = list(evaluation.top_changes)
    return attributes


class EvaluationSpans:
    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(OWN_SCOPE, __version__, tracer_provider)

    def __call__(self, window: WindowEvaluation) -> None:
        attributes: dict[str, AttributeValue] = {
            sc.EXPECTATION: window.expectation,
            sc.STATUS: window.status,
            sc.STATUS_NAME: STATUS_NAMES[window.status],
            sc.WINDOW_SPANS: window.spans,
            sc.WINDOW_PARTIAL: window.partial,
            sc.WATCHES: len(window.watches),
        }
        omitted: list[str] = []
        # Most severe first, so what is cut for room is what is ok.
        by_severity = sorted(window.watches, key=lambda w: (-w.status, -w.level))
        for evaluation in by_severity:
            extra = _watch_attributes(evaluation)
            # Two places stay free: the omitted count and the compact list.
            if len(attributes) + len(extra) + 2 > MAX_EVALUATION_ATTRIBUTES:
                omitted.append(_compact(evaluation))
                continue
            attributes.update(extra)
        attributes[sc.WATCHES_OMITTED] = len(omitted)
        if omitted:
            attributes[sc.WATCHES_COMPACT] = omitted
        span = self._tracer.start_span(
            sc.EVALUATION_SPAN, attributes=attributes, start_time=window.start_time_ns
        )
        critical: list[str] = []
        events = 0
        for evaluation in by_severity:
            if evaluation.status == 0 and evaluation.level == 0 and not evaluation.reason:
                continue
            event: dict[str, AttributeValue] = {
                sc.ATTRIBUTE: evaluation.watch,
                sc.METHOD: evaluation.method,
                sc.STATUS: evaluation.status,
                sc.STATUS_NAME: STATUS_NAMES[evaluation.status],
                sc.LEVEL: evaluation.level,
                sc.WARNING: evaluation.warning,
                sc.CRITICAL: evaluation.critical,
            }
            if evaluation.score is not None:
                event[sc.SCORE] = evaluation.score
            if evaluation.p_value is not None:
                event[sc.P_VALUE] = evaluation.p_value
            if evaluation.top_changes:
                event[sc.TOP_CHANGES] = list(evaluation.top_changes)
            if evaluation.explained:
                event[sc.EXPLAINED_BY] = [s.segment for s in evaluation.explained]
                event[sc.EXPLAINED_SHARE] = [s.share for s in evaluation.explained]
            if evaluation.reason:
                event[sc.REASON_TEXT] = evaluation.reason
            if events < MAX_EVALUATION_EVENTS:
                span.add_event(sc.DETECTED_EVENT, event)
                events += 1
            if evaluation.status == 2:
                critical.append(_describe(evaluation))
        if critical:
            span.set_status(
                Status(StatusCode.ERROR, f"{window.expectation}: " + "; ".join(critical))
            )
        span.end(end_time=window.end_time_ns)
