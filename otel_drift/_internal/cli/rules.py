"""``otel-drift rules``: Prometheus recording and alerting rules for fleet-wide drift.

Every replica counts values per baseline bin (``drift_bin_count_total``) and
exports the baseline's fractions (``drift_baseline_fraction``). The recording
rules sum the counts' ``increase()`` over a window across the replicas of a
fleet (by default: a Prometheus ``job``), turn them into fractions, and compute
the drift score of each watched value's method from them, with the detectors'
formulas. The alerting rules fire when a fleet score stays at or above the
expectations file's thresholds for ``--for``: one alerting rule per watched
value and severity, labelled with its expectation and watched value, so that
``promtool check rules`` (duplicate-rules lint on) accepts the file.

``increase()`` extrapolates each replica's counts to the window's edges by a
factor that is the same for all bins of that replica; summed fleet counts are
therefore estimates, and the scores are exact functions of those estimates.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from otel_drift._internal.cli import promql as pq
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command
from otel_drift._internal.detectors import METHODS
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import ExpectationsFile

_DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class RuleOptions:
    """How the rules are built; the defaults suit a Prometheus scraping every 15-60 s."""

    window: str = "5m"
    for_: str = "5m"
    #: Labels that identify one fleet (kept in every recorded series).
    fleet_labels: tuple[str, ...] = ("job",)
    #: Extra PromQL label matchers for the raw series, e.g. ``namespace="prod"``.
    selector: str = ""
    interval: str | None = None


@dataclass(frozen=True)
class RuleNames:
    """The recorded series' names for one window."""

    window: str

    @property
    def counts(self) -> str:
        return f"drift:bin_count:increase{self.window}"

    @property
    def samples(self) -> str:
        return f"drift:samples:increase{self.window}"

    @property
    def observed(self) -> str:
        return f"drift:observed_fraction:{self.window}"

    @property
    def baseline(self) -> str:
        return "drift:baseline_fraction:normalized"

    def score(self, method: str) -> str:
        return f"drift:{method}:{self.window}"


def fleet_method(method: str) -> str:
    """The method a fleet score uses: the watch's own, or PSI when PromQL cannot express it."""
    return method if method in pq.FLEET_METHODS else "psi"


def _selector(expectations: ExpectationsFile, options: RuleOptions) -> str:
    names = "|".join(re.escape(e.name) for e in expectations.expectations)
    matchers = [f"{pq.EXPECTATION_LABEL}=~`{names}`"]
    if options.selector.strip():
        matchers.append(options.selector.strip())
    return "{" + ", ".join(matchers) + "}"


def recording_rules(expectations: ExpectationsFile, options: RuleOptions) -> list[dict[str, str]]:
    names = RuleNames(options.window)
    group = (*options.fleet_labels, pq.EXPECTATION_LABEL, pq.ATTRIBUTE_LABEL)
    per_bin = (*group, pq.BIN_LABEL)
    selector = _selector(expectations, options)
    baseline = f"max by ({', '.join(per_bin)}) ({pq.BASELINE_FRACTION}{selector})"
    rules = [
        {
            "record": names.counts,
            "expr": f"sum by ({', '.join(per_bin)}) "
            f"(increase({pq.BIN_COUNT}{selector}[{options.window}]))",
        },
        {"record": names.samples, "expr": f"sum by ({', '.join(group)}) ({names.counts})"},
        {"record": names.observed, "expr": pq.fractions_expr(names.counts, group)},
        # Renormalised like the detectors do: a YAML file rounds its fractions.
        {"record": names.baseline, "expr": pq.fractions_expr(baseline, group)},
    ]
    methods = sorted(
        {fleet_method(w.method) for e in expectations.expectations for w in e.watch if w.baseline}
    )
    for method in methods:
        rules.append(
            {
                "record": names.score(method),
                "expr": pq.SCORE_EXPRESSIONS[method](names.observed, names.baseline, group),
            }
        )
    return rules


def alerting_rules(expectations: ExpectationsFile, options: RuleOptions) -> list[dict[str, Any]]:
    names = RuleNames(options.window)
    group = ", ".join((*options.fleet_labels, pq.EXPECTATION_LABEL, pq.ATTRIBUTE_LABEL))
    fleet = " ".join(f"{{{{ $labels.{label} }}}}" for label in options.fleet_labels)
    rules: list[dict[str, Any]] = []
    for expectation in expectations.expectations:
        for watch in expectation.watch:
            if watch.baseline is None:
                continue
            method = fleet_method(watch.method)
            if method == watch.method:
                warning, critical = watch.warning, watch.critical
            else:
                warning, critical = METHODS["psi"].defaults(watch.kind)
            series = (
                f'{names.score(method)}{{{pq.EXPECTATION_LABEL}="{expectation.name}", '
                f'{pq.ATTRIBUTE_LABEL}="{watch.name}"}}'
            )
            enough = f"and on ({group}) {names.samples} >= {expectation.min_samples}"
            where = f"{expectation.name}.{watch.name}"
            for severity, condition, threshold in (
                ("critical", f"{series} >= {critical!r}", critical),
                ("warning", f"({series} >= {warning!r}) < {critical!r}", warning),
            ):
                rules.append(
                    {
                        "alert": "DriftCritical" if severity == "critical" else "DriftWarning",
                        "expr": f"({condition}) {enough}",
                        "for": options.for_,
                        # One rule per watched value: its labels tell the rules
                        # apart (promtool's duplicate-rules lint) and route alerts.
                        "labels": {
                            "severity": severity,
                            pq.EXPECTATION_LABEL: expectation.name,
                            pq.ATTRIBUTE_LABEL: watch.name,
                            pq.METHOD_LABEL: method,
                        },
                        "annotations": {
                            "summary": f"{severity} drift on {where} across {fleet}",
                            "description": (
                                f"Fleet-wide {method} of {where} over {options.window} is "
                                f'{{{{ $value | printf "%.4g" }}}} (threshold {threshold:g}), '
                                f"from the bin counts summed across replicas."
                            ),
                        },
                    }
                )
    # A replica's own verdict (windows, hysteresis): useful when one replica drifts alone.
    status = f"{pq.STATUS}{_selector(expectations, options)}"
    rules.append(
        {
            "alert": "DriftReplicaCritical",
            "expr": f"max by ({group}, instance) ({status}) >= 2",
            "for": options.for_,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "replica {{ $labels.instance }} reports critical drift on "
                "{{ $labels.drift_expectation }}.{{ $labels.drift_attribute }}",
                "description": "drift.status of one replica is 2 (critical) after hysteresis.",
            },
        }
    )
    return rules


def build_rules(expectations: ExpectationsFile, options: RuleOptions) -> dict[str, Any]:
    """The rules file as a mapping (``groups:``), ready for YAML."""
    recording: dict[str, Any] = {
        "name": f"otel-drift-fleet-{options.window}",
        "rules": recording_rules(expectations, options),
    }
    alerting: dict[str, Any] = {
        "name": f"otel-drift-alerts-{options.window}",
        "rules": alerting_rules(expectations, options),
    }
    if options.interval:
        recording["interval"] = alerting["interval"] = options.interval
    return {"groups": [recording, alerting]}


def render_rules(expectations: ExpectationsFile, options: RuleOptions) -> str:
    fallbacks = sorted(
        f"{e.name}.{w.name} ({w.method})"
        for e in expectations.expectations
        for w in e.watch
        if w.baseline is not None and fleet_method(w.method) != w.method
    )
    header = [
        "# Generated by `otel-drift rules` from " + expectations.path + ".",
        "# Check: promtool check rules FILE. Fleet = series sharing: "
        + ", ".join(options.fleet_labels),
    ]
    if fallbacks:
        header.append(
            "# PromQL cannot express these methods; their fleet alerts use PSI "
            "with its default thresholds: " + ", ".join(fallbacks)
        )
    body = yaml.safe_dump(
        build_rules(expectations, options), sort_keys=False, width=1000, allow_unicode=True
    )
    return "\n".join(header) + "\n" + body


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expectations", help="expectations file (YAML or JSON)")
    parser.add_argument("-o", "--output", help="write the rules here (default: stdout)")
    parser.add_argument("--window", default="5m", help="increase() window (default: 5m)")
    parser.add_argument(
        "--for", dest="for_", default="5m", help="alerts' `for:` duration (default: 5m)"
    )
    parser.add_argument(
        "--fleet-labels",
        default="job",
        help="comma-separated labels that identify one fleet (default: job)",
    )
    parser.add_argument(
        "--selector", default="", help='extra label matchers, e.g. namespace="prod"'
    )
    parser.add_argument("--interval", help="rule groups' evaluation interval (default: global)")


def options_from(args: argparse.Namespace) -> RuleOptions | str:
    """The options, or a usage error message."""
    for name, value in (("--window", args.window), ("--for", args.for_)):
        if not _DURATION.match(value):
            return f"{name} {value!r} is not a Prometheus duration such as 30s, 5m or 1h"
    if args.interval is not None and not _DURATION.match(args.interval):
        return f"--interval {args.interval!r} is not a Prometheus duration"
    labels = tuple(label.strip() for label in args.fleet_labels.split(",") if label.strip())
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad:
        return f"--fleet-labels: {', '.join(bad)} is not a Prometheus label name"
    return RuleOptions(args.window, args.for_, labels, args.selector, args.interval)


@command(
    "rules",
    "write Prometheus recording and alerting rules for fleet-wide drift",
    _arguments,
)
def rules_command(args: argparse.Namespace) -> int:
    options = options_from(args)
    if isinstance(options, str):
        print(f"otel-drift rules: {options}", file=sys.stderr)
        return EXIT_USAGE
    try:
        expectations = load_expectations(args.expectations)
    except ExpectationsError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    text = render_rules(expectations, options)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


__all__: Sequence[str] = ["RuleNames", "RuleOptions", "build_rules", "render_rules"]
