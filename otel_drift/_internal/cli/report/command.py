"""``otel-drift report``: one self-contained HTML page of drift, with inline SVG charts.

Per process, expectation and watched value, most severe first: what moved in
the window that drifted (its bins next to the baseline, its
``drift.top_changes`` and p-value, the segment that carried it:
``drift.explained_by``), why the status is what it is (held by
hysteresis, no valid values), the score of each window against the
thresholds, and the status per window. Reads an OTLP/JSON folder
(``traces.jsonl`` + ``metrics.jsonl``) or a Prometheus server over a time
range; no JavaScript and no external resource, so the file opens anywhere (a
CI artifact, a machine without internet).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from otel_drift._internal.cli.prometheus import PrometheusClient, PrometheusError
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command
from otel_drift._internal.cli.report.data import (
    Loaded,
    WatchReport,
    clock,
    from_otlp_dir,
    from_prometheus,
    share_changes,
)
from otel_drift._internal.cli.report.svg import (
    STATUS_COLORS,
    distribution_chart,
    score_chart,
    status_strip,
)
from otel_drift._internal.cli.timerange import parse_duration, parse_time
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.semconv import STATUS_NAMES, STATUS_NO_DATA

_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #212121; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { padding: 4px 10px; border-bottom: 1px solid #ddd; }
th { text-align: left; } .badge { color: #fff; padding: 1px 8px; border-radius: 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } .muted { color: #757575; }
section { border-top: 1px solid #ccc; } figure { margin: 0 0 8px 0; }
.why { background: #fff8e1; padding: 6px 10px; } .note { background: #e3f2fd; padding: 6px 10px; }
"""


def _badge(status: int) -> str:
    color = STATUS_COLORS.get(status, STATUS_COLORS[STATUS_NO_DATA])
    return (
        f'<span class="badge" style="background:{color}">'
        f"{STATUS_NAMES.get(status, str(status))}</span>"
    )


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _name(r: WatchReport) -> str:
    return f"{r.expectation}.{r.watch}" + (f" ({r.process})" if r.process else "")


def _explanation(r: WatchReport) -> str:
    """What moved, how significant, and why the status is what it is."""
    parts = []
    held = r.held()
    if held:
        parts.append(f"<p class='why'>{escape(held)}</p>")
    elif r.last_reason:
        parts.append(f"<p class='why'>{escape(r.last_reason)}</p>")
    drifted = r.drifted
    if drifted is not None:
        verdict = drifted.verdict
        p_value = "" if verdict.p_value is None else f"; p-value {verdict.p_value:.2g}"
        parts.append(
            f"<p>Last drifting window ({escape(clock(drifted.start))} to "
            f"{escape(clock(drifted.end))}): {_badge(verdict.status)} "
            f"{escape(verdict.method)} {_score(verdict.score)}{p_value}</p>"
        )
        if verdict.top_changes:
            items = "".join(f"<li>{escape(change)}</li>" for change in verdict.top_changes)
            parts.append(f"<p>What moved (baseline -&gt; window):</p><ul>{items}</ul>")
        if verdict.explained:
            items = "".join(
                f"<li>{escape(segment)}: {100 * share:.0f}% of the score</li>"
                for segment, share in verdict.explained
            )
            parts.append(f"<p>Carried by (explain_by):</p><ul>{items}</ul>")
    return "".join(parts)


def _window_chart(r: WatchReport) -> str:
    """The drifted window next to the baseline: its own counts, else its top changes."""
    drifted = r.drifted
    if drifted is None:
        return ""
    if drifted.counts and r.bins:
        counts = [drifted.counts.get(name, 0.0) for name in r.bins]
        chart = distribution_chart(r.bins, r.baseline, counts)
        caption = f"baseline vs the window that drifted ({drifted.counted})"
    else:
        changes = share_changes(drifted.verdict.top_changes)
        if not changes:
            return ""
        chart = distribution_chart(
            [c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes], shares=True
        )
        caption = "baseline vs the window that drifted (the bins that moved most)"
    return f"<figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>"


def _section(r: WatchReport, counts_caption: str) -> str:
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
    return (
        f'<section id="{escape(r.process)}.{escape(r.expectation)}.{escape(r.watch)}">'
        f"<h2>{escape(_name(r))} {_badge(r.last_status)}</h2>"
        f'<p class="muted">method {escape(r.method)}; {thresholds}; '
        f"last score {_score(r.last_score)}</p>{_explanation(r)}"
        f'<div class="charts">{_window_chart(r)}<figure>{distribution}'
        f"<figcaption>baseline vs live distribution ({escape(counts_caption)})</figcaption>"
        f"</figure><figure>{score_chart(r.windows, r.warning, r.critical)}"
        f"<figcaption>score per window</figcaption></figure></div>"
        f"<figure>{status_strip(r.windows)}<figcaption>status per window"
        f"</figcaption></figure></section>"
    )


def render_html(loaded: Loaded, source: str, counts_caption: str = "lifetime counts") -> str:
    reports = loaded.reports
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    apart = any(r.process for r in reports)
    rows = "".join(
        "<tr>"
        + (f"<td>{escape(r.process)}</td>" if apart else "")
        + f"<td>{escape(r.expectation)}</td>"
        f"<td>{escape(r.watch)}</td><td>{escape(r.method)}</td><td>{_badge(r.last_status)}</td>"
        f"<td>{_badge(max((s for _, _, s in r.windows), default=0))}</td>"
        f"<td>{_score(r.last_score)}</td><td>{len(r.windows)}</td>"
        f"<td>{escape('; '.join(r.drifted.verdict.top_changes[:2]) if r.drifted else '')}</td></tr>"
        for r in reports
    )
    notes = "".join(f"<p class='note'>{escape(note)}</p>" for note in loaded.notes)
    body = (
        "".join(_section(r, counts_caption) for r in reports)
        if reports
        else "<p>No drift data found (no drift.evaluation spans, no drift.* metrics).</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>otel-drift report</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>otel-drift report</h1><p class='muted'>{escape(source)}; generated {generated}</p>"
        f"{notes}<table><tr>{'<th>process</th>' if apart else ''}<th>expectation</th>"
        "<th>watched value</th>"
        "<th>method</th><th>status</th><th>worst</th><th>last score</th><th>windows</th>"
        f"<th>what moved</th></tr>{rows}</table>"
        f"{body}</body></html>\n"
    )


def _add_thresholds(reports: list[WatchReport], path: str) -> None:
    expectations = load_expectations(path)
    for report in reports:
        for expectation in expectations.expectations:
            if expectation.name != report.expectation:
                continue
            report.clear_after = expectation.hysteresis.clear_after
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
    parser.add_argument(
        "--since", default="1h", help="with --prometheus: range ending at --end (default: 1h)"
    )
    parser.add_argument(
        "--start",
        help="with --prometheus: range start, unix seconds or RFC 3339 (overrides --since)",
    )
    parser.add_argument(
        "--end",
        help="with --prometheus: range end, unix seconds or RFC 3339 (default: now); "
        "bin counts are the last samples before it",
    )
    parser.add_argument(
        "--selector", default="", help='with --prometheus: label matchers, e.g. job="checkout"'
    )
    parser.add_argument(
        "--combine",
        action="store_true",
        help="one report for all processes (default: each service.instance.id apart)",
    )
    parser.add_argument("--expectations", help="expectations file, to draw the thresholds")
    parser.add_argument("-o", "--output", default="drift-report.html", help="the HTML file")


def _range(args: argparse.Namespace) -> tuple[float, float]:
    end = parse_time(args.end) if args.end else time.time()
    start = parse_time(args.start) if args.start else end - parse_duration(args.since)
    if start >= end:
        raise ValueError("the range is empty: --start must be before --end")
    return start, end


@command("report", "write an HTML drift report with charts (OTLP/JSON or Prometheus)", _arguments)
def report_command(args: argparse.Namespace) -> int:
    if (args.source is None) == (args.prometheus is None):
        print("otel-drift report: give a folder or --prometheus URL (one)", file=sys.stderr)
        return EXIT_USAGE
    counts_caption = "lifetime counts"
    try:
        if args.prometheus:
            start, end = _range(args)
            client = PrometheusClient(args.prometheus)
            loaded = from_prometheus(client, start, end, args.selector, args.combine)
            source = f"Prometheus {args.prometheus}, {clock(start)} to {clock(end)}"
            counts_caption = f"counts at {clock(end)}, the last samples of the range"
        else:
            folder = Path(args.source)
            if not folder.is_dir():
                print(f"otel-drift report: {folder}: not a folder", file=sys.stderr)
                return EXIT_FAILED
            loaded = from_otlp_dir(folder, args.combine)
            source = f"OTLP/JSON in {folder}"
        if args.expectations:
            _add_thresholds(loaded.reports, args.expectations)
    except (ValueError, PrometheusError) as error:
        print(f"otel-drift report: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ExpectationsError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    html = render_html(loaded, source, counts_caption)
    Path(args.output).write_text(html, encoding="utf-8")
    print(f"{args.output}: {len(loaded.reports)} watched values")
    for note in loaded.notes:
        print(f"note: {note}")
    return EXIT_OK
