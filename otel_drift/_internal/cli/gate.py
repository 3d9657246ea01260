"""``otel-drift gate``: ask Prometheus whether a service drifted, exit 0 or 1.

A deploy step (a CI job, an Argo Rollouts analysis) runs it after a canary
has served traffic for a while::

    otel-drift gate --prometheus http://prometheus:9090 --service checkout \\
        --version 2.0.0 --since 15m

It reads ``drift_status`` (each replica's verdict after hysteresis) of the
service's replicas over the range, joined with ``target_info`` on
``job``/``instance`` to select the service and version (the resource
attributes ``service.name`` and ``service.version``), and prints one line per
watched value. Exit codes:

- 0: no watched value reached ``--fail-on`` (default ``critical``);
- 1: at least one did;
- 2: usage error, Prometheus unreachable or rejecting the query, or no drift
  data at all for the selection (a gate that saw nothing must not pass).

With ``--canary SELECTOR --baseline SELECTOR`` it compares the new version's
processes with the stable ones' bin by bin over the same range instead, and
with ``--serve HOST:PORT`` answers that question over HTTP: see
:mod:`otel_drift._internal.cli.canary`.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

from otel_drift._internal.cli import promql as pq
from otel_drift._internal.cli.canary.command import add_arguments, run_canary, wants_canary
from otel_drift._internal.cli.prometheus import PrometheusClient, PrometheusError, Series
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command
from otel_drift._internal.cli.timerange import time_range, when
from otel_drift._internal.semconv import STATUS_NAMES

_LABEL_VALUE = re.compile(r'^[^"\\\n]*$')
#: Points per range query: fine enough to see a short critical spell, cheap for Prometheus.
_POINTS = 240


@dataclass(frozen=True)
class GateQuery:
    service: str | None
    version: str | None
    selector: str
    expectation: str | None
    start: float
    end: float
    #: Only these watched values (all when empty).
    watches: tuple[str, ...] = ()

    def _joined(self, metric: str, keep: str) -> str:
        matchers = []
        if self.expectation:
            matchers.append(f'{pq.EXPECTATION_LABEL}="{self.expectation}"')
        if self.watches:
            names = "|".join(re.escape(w) for w in self.watches)
            matchers.append(f"{pq.ATTRIBUTE_LABEL}=~`{names}`")
        if self.selector.strip():
            matchers.append(self.selector.strip())
        series = f"{metric}{{{', '.join(matchers)}}}" if matchers else metric
        info = []
        if self.service:
            info.append(f'service_name="{self.service}"')
        if self.version:
            info.append(f'service_version="{self.version}"')
        if info:
            # target_info carries the resource attributes once per replica.
            series = (
                f"({series} * on (job, instance) group_left() target_info{{{', '.join(info)}}})"
            )
        return f"max by ({keep}) ({series})"

    def status_promql(self) -> str:
        return self._joined(pq.STATUS, f"{pq.EXPECTATION_LABEL}, {pq.ATTRIBUTE_LABEL}")

    def score_promql(self) -> str:
        return self._joined(
            pq.SCORE, f"{pq.EXPECTATION_LABEL}, {pq.ATTRIBUTE_LABEL}, {pq.METHOD_LABEL}"
        )


@dataclass(frozen=True)
class WatchVerdict:
    expectation: str
    watch: str
    worst: int
    last: int
    #: When the worst status was first seen (unix seconds).
    worst_since: float
    score: float | None
    method: str | None


def _key(series: Series) -> tuple[str, str]:
    return (
        series.labels.get(pq.EXPECTATION_LABEL, "?"),
        series.labels.get(pq.ATTRIBUTE_LABEL, "?"),
    )


def evaluate_gate(client: PrometheusClient, query: GateQuery) -> list[WatchVerdict]:
    step = max(1.0, (query.end - query.start) / _POINTS)
    statuses = client.query_range(query.status_promql(), query.start, query.end, step)
    scores = {
        _key(s): s for s in client.query_range(query.score_promql(), query.start, query.end, step)
    }
    verdicts = []
    for series in statuses:
        if not series.points:
            continue
        worst = int(max(value for _, value in series.points))
        since = min(stamp for stamp, value in series.points if int(value) == worst)
        score_series = scores.get(_key(series))
        verdicts.append(
            WatchVerdict(
                expectation=_key(series)[0],
                watch=_key(series)[1],
                worst=worst,
                last=int(series.points[-1][1]),
                worst_since=since,
                score=score_series.points[-1][1] if score_series and score_series.points else None,
                method=score_series.labels.get(pq.METHOD_LABEL) if score_series else None,
            )
        )
    verdicts.sort(key=lambda v: (v.expectation, v.watch))
    return verdicts


def format_verdicts(
    verdicts: list[WatchVerdict], query: GateQuery, fail_on: int
) -> tuple[str, bool]:
    """The report, and whether the gate fails."""
    who = query.service or "every service"
    if query.version:
        who += f" version {query.version}"
    lines = [f"otel-drift gate: {who}, {when(query.start)} to {when(query.end)}"]
    width = max((len(v.expectation) + len(v.watch) + 1 for v in verdicts), default=10)
    failing = [v for v in verdicts if v.worst >= fail_on]
    for v in verdicts:
        score = "score n/a" if v.score is None else f"{v.method} {v.score:.4g}"
        mark = "FAIL" if v.worst >= fail_on else "ok  "
        detail = f" (since {when(v.worst_since)})" if v.worst > 0 else ""
        lines.append(
            f"  {mark} {v.expectation + '.' + v.watch:<{width}}  worst {STATUS_NAMES[v.worst]:<8}"
            f"  last {STATUS_NAMES[v.last]:<8}  {score}{detail}"
        )
    if failing:
        lines.append(
            f"verdict: FAIL: {len(failing)} of {len(verdicts)} watched values reached "
            f"{STATUS_NAMES[fail_on]} or worse"
        )
    else:
        lines.append(
            f"verdict: PASS: none of {len(verdicts)} watched values reached {STATUS_NAMES[fail_on]}"
        )
    return "\n".join(lines) + "\n", bool(failing)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090"
    )
    parser.add_argument("--service", help="service.name of the replicas to judge")
    parser.add_argument("--version", help="service.version (a canary's version)")
    parser.add_argument("--expectation", help="only this expectation")
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        help="only this watched value (repeatable; default: all)",
    )
    parser.add_argument(
        "--selector", default="", help='extra label matchers on drift_status, e.g. job="checkout"'
    )
    parser.add_argument("--since", default="15m", help="range ending now (default: 15m)")
    parser.add_argument("--start", help="range start: unix seconds or RFC 3339 (overrides --since)")
    parser.add_argument("--end", help="range end: unix seconds or RFC 3339 (default: now)")
    parser.add_argument(
        "--fail-on",
        choices=("warning", "critical"),
        default="critical",
        help="the status that fails the gate (default: critical)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, in seconds")
    add_arguments(parser)


def _query_from(args: argparse.Namespace) -> GateQuery:
    for name in ("service", "version", "expectation"):
        value = getattr(args, name)
        if value is not None and not _LABEL_VALUE.match(value):
            raise ValueError(f"--{name} may not contain quotes, backslashes or newlines")
    if any("`" in watch for watch in args.watch):
        raise ValueError("--watch may not contain backticks")
    start, end = time_range(args.since, args.start, args.end)
    return GateQuery(
        args.service, args.version, args.selector, args.expectation, start, end, tuple(args.watch)
    )


@command(
    "gate",
    "exit 1 when Prometheus shows drift for a service, or a canary unlike its baseline",
    _arguments,
)
def gate_command(args: argparse.Namespace) -> int:
    if wants_canary(args):
        return run_canary(args)
    try:
        query = _query_from(args)
    except ValueError as error:
        print(f"otel-drift gate: {error}", file=sys.stderr)
        return EXIT_USAGE
    client = PrometheusClient(args.prometheus, timeout_s=args.timeout)
    try:
        verdicts = evaluate_gate(client, query)
    except PrometheusError as error:
        print(f"otel-drift gate: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not verdicts:
        print(
            f"otel-drift gate: no drift_status series for this selection in the range "
            f"(query: {query.status_promql()}); is the service exporting drift metrics "
            "and is Prometheus scraping it?",
            file=sys.stderr,
        )
        return EXIT_USAGE
    report, failed = format_verdicts(verdicts, query, 2 if args.fail_on == "critical" else 1)
    sys.stdout.write(report)
    return EXIT_FAILED if failed else EXIT_OK
