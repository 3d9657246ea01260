"""``otel-drift baseline``: an expectations file learned from data, traces or Prometheus.

The command's arguments and which source it reads: a model's reference data
(``from_data.py``), a service's recorded spans (``from_traces.py``), or the
HTTP histograms Prometheus holds (``from_prometheus.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otel_drift._internal.cli.baseline import from_prometheus as prom
from otel_drift._internal.cli.baseline.from_data import CSV_WINDOW, from_data
from otel_drift._internal.cli.baseline.from_traces import (
    DEFAULT_MAX_EXPECTATIONS,
    DEFAULT_MIN_SPANS,
    DEFAULT_WINDOW,
    PROFILES,
    from_traces,
)
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_USAGE, command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, nargs="?", help="reference data: .csv, .parquet or .npy")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="expectations file to write"
    )
    parser.add_argument(
        "--from-traces",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="learn a service's expectations from recorded spans instead: traces.jsonl files "
        "of the otlp_json_file exporter (or the folders holding them), OTLP/JSON requests",
    )
    parser.add_argument("--name", help="expectation name, e.g. credit-model (data files)")
    parser.add_argument(
        "--model-name",
        help="ml.model.name to match (default: the --model's own name, or --name)",
    )
    parser.add_argument("--model-version", help="ml.model.version to match (default: any)")
    parser.add_argument("--features", help="comma-separated columns to watch (default: all)")
    parser.add_argument(
        "--exclude",
        default="",
        help="comma-separated columns to leave out; with --from-traces, a regular expression "
        "of routes and client targets to leave out",
    )
    parser.add_argument(
        "--include", help="with --from-traces: learn only routes and client targets matching it"
    )
    parser.add_argument("--service", help="the service.name to learn (--from-traces/-prometheus)")
    prom.prometheus_arguments(parser)
    parser.add_argument(
        "--min-spans",
        type=int,
        help=f"with --from-traces: skip what was seen fewer times ({DEFAULT_MIN_SPANS})",
    )
    parser.add_argument(
        "--max-expectations",
        type=int,
        default=DEFAULT_MAX_EXPECTATIONS,
        help=f"with --from-traces: at most this many, the busiest ({DEFAULT_MAX_EXPECTATIONS})",
    )
    parser.add_argument(
        "--update",
        type=Path,
        metavar="EXISTING",
        help="with --from-traces: relearn the baselines of EXISTING, keeping its thresholds, "
        "constraints, names, matches and what the recording did not cover",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="with --from-traces/--from-prometheus: a baseline per hour of the day or week",
    )
    parser.add_argument("--timezone", help="with --profile: IANA time zone of the hours (UTC)")
    parser.add_argument("--target", help="the label column: left out of the features")
    parser.add_argument("--categorical", default="", help="numeric columns to treat as labels")
    parser.add_argument("--feature-names", help="comma-separated names of a .npy file's columns")
    parser.add_argument("--bins", type=int, default=10, help="bins per numeric feature (10)")
    parser.add_argument(
        "--model",
        help="module:attribute of a fitted model (or a function returning one) to run for the "
        "prediction baseline; the module is imported (its code runs), nothing is unpickled",
    )
    parser.add_argument("--operation", default="predict", help="model method to run (predict)")
    parser.add_argument("--output-column", type=int, help="column of a 2-D model output")
    parser.add_argument(
        "--window",
        type=prom.window_value,
        help="rows (spans) per window, written in the file and used to score the data's own "
        f"consecutive windows for learned thresholds ({CSV_WINDOW}; --from-traces: "
        f"{DEFAULT_WINDOW}; --from-prometheus: a duration, 5m)",
    )
    parser.add_argument("--min-samples", type=int, default=200, help="min rows scored (200)")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows read at a time")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None)
    progress.add_argument("--no-progress", dest="progress", action="store_false")


@command(
    "baseline",
    "learn expectations: a model's from data, a service's from traces or Prometheus",
    _arguments,
)
def baseline(arguments: argparse.Namespace) -> int:
    output: Path = arguments.output
    given = [arguments.data, arguments.from_traces, arguments.from_prometheus]
    if sum(source is not None for source in given) != 1 or (
        arguments.data is not None and not arguments.name
    ):
        print(
            "otel-drift baseline: give DATA --name, --from-traces PATH or --from-prometheus URL",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if output.exists() and not arguments.force:
        print(
            f"otel-drift baseline: {output} exists; not overwriting it "
            "(add --force to replace it).",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if arguments.from_prometheus is not None:
        return prom.from_prometheus(arguments)
    if isinstance(arguments.window, str):
        print("otel-drift baseline: --window DURATION is for --from-prometheus", file=sys.stderr)
        return EXIT_USAGE
    if arguments.from_traces is not None:
        return from_traces(arguments)
    return from_data(arguments)
