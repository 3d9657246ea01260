"""One canary gate run: both sides' counts, a verdict per watched value, the reports.

:func:`evaluate_canary` is what the command and the served endpoint both call;
:meth:`CanaryResult.document` is the JSON both print or answer (``verdict``
at the top, for Argo Rollouts' ``jsonPath: "{$.verdict}"``), and
:func:`format_text` the terminal report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_drift._internal.cli.canary.query import (
    CanaryQuery,
    SideData,
    fetch_side,
    unknown_watches,
    watch_specs,
)
from otel_drift._internal.cli.canary.verdict import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Judgement,
    SideSummary,
    judge,
    overall,
)
from otel_drift._internal.cli.prometheus import PrometheusClient
from otel_drift._internal.cli.timerange import when
from otel_drift._internal.detectors.method import WARNING_ALPHA
from otel_drift._internal.expectations.model import ExpectationsFile


class CanaryUsageError(ValueError):
    """The question cannot be answered as asked (a selector with no process, overlap)."""


@dataclass(frozen=True)
class CanaryOptions:
    #: The p-value at or under which a material change is real.
    alpha: float = WARNING_ALPHA
    #: Values each side needs (None: each expectation's ``min_samples``).
    min_values: int | None = None


@dataclass(frozen=True)
class CanaryResult:
    query: CanaryQuery
    options: CanaryOptions
    canary: SideData
    baseline: SideData
    judgements: list[Judgement]
    #: Watched values with counts in Prometheus that the expectations file does not name.
    unknown: list[str]

    @property
    def verdict(self) -> str:
        return overall(j.verdict for j in self.judgements)

    def document(self) -> dict[str, Any]:
        """The JSON answer: the verdict, the question, and every watched value's numbers."""
        return {
            "verdict": self.verdict,
            "failed": [j.spec.name for j in self.judgements if j.verdict == FAIL],
            "inconclusive": [j.spec.name for j in self.judgements if j.verdict == INCONCLUSIVE],
            "start": self.query.start,
            "end": self.query.end,
            "alpha": self.options.alpha,
            "selector_on": self.query.selector_on,
            "canary": {"selector": self.canary.selector, "targets": self.canary.targets},
            "baseline": {"selector": self.baseline.selector, "targets": self.baseline.targets},
            "watches": [_watch_document(j) for j in self.judgements],
            "not_in_expectations": self.unknown,
        }


def _side_document(side: SideSummary) -> dict[str, Any]:
    found: dict[str, Any] = {"count": side.count, "bins": side.bins}
    if side.mean is not None:
        found["mean"] = side.mean
        found["median"] = side.median
    return found


def _watch_document(judged: Judgement) -> dict[str, Any]:
    spec = judged.spec
    return {
        "expectation": spec.expectation,
        "watch": spec.watch,
        "verdict": judged.verdict,
        "reason": judged.reason,
        "method": spec.method,
        "score": judged.score,
        "materiality": spec.materiality,
        "p_value": judged.p_value,
        "shift": judged.shift,
        "needed": spec.needed,
        "direction": "slower is bad" if spec.slower_is_bad else None,
        "moved": [
            {"bin": label, "canary_share": q, "baseline_share": p} for label, q, p in judged.moved
        ],
        "canary": _side_document(judged.canary),
        "baseline": _side_document(judged.baseline),
    }


def evaluate_canary(
    client: PrometheusClient,
    expectations: ExpectationsFile,
    query: CanaryQuery,
    options: CanaryOptions,
) -> CanaryResult:
    """Both sides from Prometheus, judged value by value.

    Raises :class:`PrometheusError` and :class:`CanaryUsageError`.
    """
    canary = fetch_side(client, query, query.canary)
    baseline = fetch_side(client, query, query.baseline)
    for name, side in (("canary", canary), ("baseline", baseline)):
        if not side.targets:
            raise CanaryUsageError(
                f"the {name} selector {side.selector} matches no process exporting drift "
                f"metrics between {when(query.start)} and {when(query.end)} "
                f"(query: {query.targets_promql(side.selector)})"
            )
    both = sorted(set(canary.targets) & set(baseline.targets))
    if both:
        raise CanaryUsageError(
            f"the canary and baseline selectors both match {', '.join(both)}: "
            "each process must be on one side only"
        )
    specs = watch_specs(expectations, query, options.min_values)
    judgements = [
        judge(
            spec,
            canary.counts.get((spec.expectation, spec.watch), {}),
            baseline.counts.get((spec.expectation, spec.watch), {}),
            options.alpha,
        )
        for spec in specs
    ]
    unknown = unknown_watches(expectations, canary.counts, baseline.counts)
    return CanaryResult(query, options, canary, baseline, judgements, unknown)


def format_text(result: CanaryResult) -> str:
    query = result.query
    lines = [
        f"otel-drift gate: canary {query.canary} ({len(result.canary.targets)} processes) "
        f"against baseline {query.baseline} ({len(result.baseline.targets)} processes), "
        f"{when(query.start)} to {when(query.end)}"
    ]
    width = max((len(j.spec.name) for j in result.judgements), default=10)
    for judged in result.judgements:
        counts = (
            f"canary {round(judged.canary.count):>7,}  baseline {round(judged.baseline.count):>7,}"
        )
        lines.append(
            f"  {judged.verdict:<12} {judged.spec.name:<{width}}  {counts}  {judged.reason}"
        )
    if result.unknown:
        lines.append(f"  (not in the expectations file, not judged: {', '.join(result.unknown)})")
    verdict = result.verdict
    named = {
        FAIL: [j.spec.name for j in result.judgements if j.verdict == FAIL],
        INCONCLUSIVE: [j.spec.name for j in result.judgements if j.verdict == INCONCLUSIVE],
    }.get(verdict, [])
    if verdict == PASS:
        lines.append(f"verdict: PASS: none of {len(result.judgements)} watched values changed")
    elif not result.judgements:
        lines.append("verdict: INCONCLUSIVE: the expectations file has no watched value to judge")
    else:
        lines.append(f"verdict: {verdict}: {', '.join(named)}")
    return "\n".join(lines) + "\n"
