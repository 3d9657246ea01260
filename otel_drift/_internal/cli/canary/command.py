"""``otel-drift gate --canary SEL --baseline SEL`` and ``--serve ADDRESS``: the command side.

The options join the ``gate`` command's own (``--prometheus``, ``--since``,
``--start``/``--end``, ``--expectation``, ``--watch``, ``--timeout``);
``gate`` hands the run here when ``--canary``, ``--baseline`` or ``--serve``
is given. Exit codes: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 usage or Prometheus
error (``--serve`` runs until stopped, then exits 0).
"""

from __future__ import annotations

import argparse
import json
import sys

from otel_drift._internal.cli.canary.query import SELECTOR_ON, CanaryQuery, clean_selector
from otel_drift._internal.cli.canary.run import (
    CanaryOptions,
    CanaryUsageError,
    evaluate_canary,
    format_text,
)
from otel_drift._internal.cli.canary.serve import CanaryService, Defaults, parse_address, serve
from otel_drift._internal.cli.canary.verdict import FAIL, PASS
from otel_drift._internal.cli.prometheus import PrometheusClient, PrometheusError
from otel_drift._internal.cli.registry import (
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_USAGE,
)
from otel_drift._internal.cli.timerange import time_range
from otel_drift._internal.detectors.method import WARNING_ALPHA
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import ExpectationsFile

#: Options of the baseline-file gate that mean nothing against a baseline version.
_FILE_MODE_ONLY = ("service", "version", "selector")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "canary against baseline (both serving at the same time)",
        "Compare two sets of processes bin by bin; the selectors are PromQL label "
        'matchers, matched on target_info by default: service_version="2.1.0".',
    )
    group.add_argument("--canary", metavar="SELECTOR", help="the new version's processes")
    group.add_argument("--baseline", metavar="SELECTOR", help="the stable version's processes")
    group.add_argument(
        "--expectations",
        metavar="FILE",
        help="the services' expectations file: the watched values, methods and thresholds",
    )
    group.add_argument(
        "--selector-on",
        choices=SELECTOR_ON,
        default="target_info",
        help="where the selectors' labels are: target_info (resource attributes, "
        "the default) or series (labels on the drift series themselves)",
    )
    group.add_argument(
        "--min-values",
        type=int,
        metavar="N",
        help="values each side needs (default: each expectation's min_samples)",
    )
    group.add_argument(
        "--alpha",
        type=float,
        default=WARNING_ALPHA,
        help=f"p-value at or under which a material change is real (default: {WARNING_ALPHA:g})",
    )
    group.add_argument("--output", choices=("text", "json"), default="text")
    group.add_argument(
        "--serve",
        metavar="HOST:PORT",
        help="answer canary questions over HTTP (Argo Rollouts web provider, Flagger webhooks)",
    )
    group.add_argument(
        "--deadline",
        type=float,
        default=8.0,
        help="with --serve: seconds before an unanswered request gets 504 (default: 8)",
    )
    group.add_argument(
        "--cache-ttl",
        type=float,
        default=15.0,
        help="with --serve: seconds an answer is reused for the same question (default: 15)",
    )


def wants_canary(args: argparse.Namespace) -> bool:
    return bool(args.canary or args.baseline or args.serve)


def _expectations(args: argparse.Namespace) -> ExpectationsFile:
    for name in _FILE_MODE_ONLY:
        if getattr(args, name):
            raise ValueError(f"--{name} does not apply with --canary/--baseline/--serve")
    if not args.expectations:
        raise ValueError("--canary/--baseline/--serve need --expectations FILE")
    if args.min_values is not None and args.min_values < 1:
        raise ValueError("--min-values must be at least 1")
    if not 0.0 < args.alpha < 1.0:
        raise ValueError("--alpha must be between 0 and 1")
    try:
        return load_expectations(args.expectations)
    except ExpectationsError as error:
        raise ValueError(str(error)) from None


def run_canary(args: argparse.Namespace) -> int:
    try:
        expectations = _expectations(args)
        options = CanaryOptions(args.alpha, args.min_values)
        if args.serve:
            address = parse_address(args.serve)
        else:
            if not (args.canary and args.baseline):
                raise ValueError("give both --canary and --baseline (or --serve)")
            start, end = time_range(args.since, args.start, args.end)
            query = CanaryQuery(
                clean_selector(args.canary),
                clean_selector(args.baseline),
                start,
                end,
                args.selector_on,
                args.expectation,
                tuple(args.watch),
            )
    except ValueError as error:
        print(f"otel-drift gate: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.serve:
        service = CanaryService(
            PrometheusClient(args.prometheus, timeout_s=args.timeout),
            expectations,
            options,
            Defaults(
                args.since, args.selector_on, args.expectation, ",".join(sorted(set(args.watch)))
            ),
            deadline_s=args.deadline,
            cache_ttl_s=args.cache_ttl,
        )
        try:
            return serve(service, address)
        except OSError as error:
            print(f"otel-drift gate: cannot listen on {args.serve}: {error}", file=sys.stderr)
            return EXIT_USAGE
    client = PrometheusClient(args.prometheus, timeout_s=args.timeout)
    try:
        result = evaluate_canary(client, expectations, query, options)
    except (PrometheusError, CanaryUsageError) as error:
        print(f"otel-drift gate: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.output == "json":
        sys.stdout.write(json.dumps(result.document(), indent=1) + "\n")
    else:
        sys.stdout.write(format_text(result))
    return {PASS: EXIT_OK, FAIL: EXIT_FAILED}.get(result.verdict, EXIT_INCONCLUSIVE)
