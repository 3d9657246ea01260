"""``otel-drift report``: one self-contained HTML page of drift, with inline SVG charts.

Per expectation and watched value: the baseline's distribution next to the
live one, the score of each window against the thresholds, and the status
per window. Reads an OTLP/JSON folder (``traces.jsonl`` + ``metrics.jsonl``)
or a Prometheus server; no JavaScript and no external resource, so the file
opens anywhere (a CI artifact, a machine without internet).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from otel_drift._internal.cli.gate import parse_duration
from otel_drift._internal.cli.prometheus import PrometheusClient, PrometheusError
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command
from otel_drift._internal.cli.report.data import WatchReport, from_otlp_dir, from_prometheus
from otel_drift._internal.cli.report.svg import (
    STATUS_COLORS,
    distribution_chart,
    score_chart,
    status_strip,
)
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.semconv import STATUS_NAMES

_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #212121; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { padding: 4px 10px; border-bottom: 1px solid #ddd; }
th { text-align: left; } .badge { color: #fff; padding: 1px 8px; border-radius: 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } .muted { color: #757575; }
section { border-top: 1px solid #ccc; } figure { margin: 0 0 8px 0; }
"""


def _badge(status: int) -> str:
    return (
        f'<span class="badge" style="background:{STATUS_COLORS[status]}">'
        f"{STATUS_NAMES[status]}</span>"
    )


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def render_html(reports: list[WatchReport], source: str) -> str:
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = "".join(
        f"<tr><td>{escape(r.expectation)}</td><td>{escape(r.watch)}</td>"
        f"<td>{escape(r.method)}</td><td>{_badge(r.last_status)}</td>"
        f"<td>{_badge(max((s for _, _, s in r.windows), default=0))}</td>"
        f"<td>{_score(r.last_score)}</td><td>{len(r.windows)}</td></tr>"
        for r in reports
    )
    sections = []
    for r in reports:
        thresholds = (
            f"warning {r.warning:g}, critical {r.critical:g}"
            if r.warning is not None and r.critical is not None
            else "thresholds: pass --expectations to draw them"
        )
        distribution = (
            distribution_chart(r.bins, r.baseline, r.counts)
            if r.bins
            else '<p class="muted">no bin counts (no metrics, or no baseline)</p>'
        )
        sections.append(
            f'<section id="{escape(r.expectation)}.{escape(r.watch)}">'
            f"<h2>{escape(r.expectation)}.{escape(r.watch)} {_badge(r.last_status)}</h2>"
            f'<p class="muted">method {escape(r.method)}; {thresholds}; '
            f"last score {_score(r.last_score)}</p>"
            f'<div class="charts"><figure>{distribution}'
            f"<figcaption>baseline vs live distribution (lifetime counts)</figcaption></figure>"
            f"<figure>{score_chart(r.windows, r.warning, r.critical)}"
            f"<figcaption>score per window</figcaption></figure></div>"
            f"<figure>{status_strip(r.windows)}<figcaption>status per window"
            f"</figcaption></figure></section>"
        )
    body = (
        "".join(sections)
        if reports
        else "<p>No drift data found (no drift.evaluation spans, no drift.* metrics).</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>otel-drift report</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>otel-drift report</h1><p class='muted'>{escape(source)}; generated {generated}</p>"
        "<table><tr><th>expectation</th><th>watched value</th><th>method</th><th>status</th>"
        f"<th>worst</th><th>last score</th><th>windows</th></tr>{rows}</table>"
        f"{body}</body></html>\n"
    )


def _add_thresholds(reports: list[WatchReport], path: str) -> None:
    expectations = load_expectations(path)
    for report in reports:
        for expectation in expectations.expectations:
            if expectation.name != report.expectation:
                continue
            for watch in expectation.watch:
                if watch.name == report.watch:
                    report.warning, report.critical = watch.warning, watch.critical
                    if report.method == "?":
                        report.method = watch.method


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", nargs="?", help="an OTLP/JSON folder (traces.jsonl + metrics.jsonl)"
    )
    parser.add_argument("--prometheus", help="read from this Prometheus instead of a folder")
    parser.add_argument("--since", default="1h", help="with --prometheus: range (default: 1h)")
    parser.add_argument(
        "--selector", default="", help='with --prometheus: label matchers, e.g. job="checkout"'
    )
    parser.add_argument("--expectations", help="expectations file, to draw the thresholds")
    parser.add_argument("-o", "--output", default="drift-report.html", help="the HTML file")


@command("report", "write an HTML drift report with charts (OTLP/JSON or Prometheus)", _arguments)
def report_command(args: argparse.Namespace) -> int:
    if (args.source is None) == (args.prometheus is None):
        print("otel-drift report: give a folder or --prometheus URL (one)", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.prometheus:
            end = time.time()
            start = end - parse_duration(args.since)
            reports = from_prometheus(PrometheusClient(args.prometheus), start, end, args.selector)
            source = f"Prometheus {args.prometheus}, last {args.since}"
        else:
            folder = Path(args.source)
            if not folder.is_dir():
                print(f"otel-drift report: {folder}: not a folder", file=sys.stderr)
                return EXIT_FAILED
            reports = from_otlp_dir(folder)
            source = f"OTLP/JSON in {folder}"
        if args.expectations:
            _add_thresholds(reports, args.expectations)
    except (ValueError, PrometheusError) as error:
        print(f"otel-drift report: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ExpectationsError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    Path(args.output).write_text(render_html(reports, source), encoding="utf-8")
    print(f"{args.output}: {len(reports)} watched values")
    return EXIT_OK
