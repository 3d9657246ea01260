"""What ``otel-drift report`` shows, read from exported telemetry.

Two sources, one model (:class:`WatchReport` per process, expectation and
watched value; processes combined into one report when asked):

- an OTLP/JSON folder (``traces.jsonl`` + ``metrics.jsonl``, as the demo
  writes): bin counts and baseline fractions from the metrics exports (the
  last one of each process, and the ones around the window that drifted),
  every window's score, status, p-value and what moved from the
  ``drift.evaluation`` spans (:mod:`otel_drift._internal.cli.traces`);
- Prometheus: the same from ``drift_bin_count_total``,
  ``drift_baseline_fraction``, ``drift_score`` and ``drift_status``, read at
  the range's end (the last sample in the range), so a report of a service
  that has stopped still has its counts.

Reports come most severe first: critical, warning, no_data, then ok.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from otel_drift._internal import semconv as sc
from otel_drift._internal.cli import promql as pq
from otel_drift._internal.cli.prometheus import PrometheusClient
from otel_drift._internal.cli.traces import WatchWindow, process_name, read_evaluations
from otel_drift._internal.expectations.model import DEFAULT_CLEAR_AFTER
from otel_drift._internal.exporters.otlp_json_file import (
    METRICS_FILE_NAME,
    TRACES_FILE_NAME,
    attributes_dict,
    read_otlp_json,
)
from otel_drift._internal.values import label

#: Report order by last status: critical, warning, no_data, ok.
_SEVERITY = {2: 0, 1: 1, sc.STATUS_NO_DATA: 2, 0: 3}


@dataclass
class DriftedWindow:
    """The latest window in which the value drifted, as its span told it."""

    start: float
    end: float
    verdict: WatchWindow
    #: Bin -> live count in (about) that window, from the metrics exports around it.
    counts: dict[str, float] = field(default_factory=dict)
    #: The export times those counts lie between ("" when not available).
    counted: str = ""


@dataclass
class WatchReport:
    expectation: str
    watch: str
    method: str = "?"
    #: The process (``service.name service.instance.id``); "" when combined.
    process: str = ""
    bins: list[str] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    #: (unix seconds, score or None, status) per closed window, oldest first.
    windows: list[tuple[float, float | None, int]] = field(default_factory=list)
    #: The window's own level (before hysteresis) where the span gave it.
    levels: list[int | None] = field(default_factory=list)
    warning: float | None = None
    critical: float | None = None
    clear_after: int = DEFAULT_CLEAR_AFTER
    drifted: DriftedWindow | None = None
    #: Reason text of the last window, when the span gave one.
    last_reason: str | None = None

    @property
    def last_status(self) -> int:
        return self.windows[-1][2] if self.windows else 0

    @property
    def last_score(self) -> float | None:
        for _, score, _ in reversed(self.windows):
            if score is not None:
                return score
        return None

    def held(self) -> str | None:
        """Why the last status is above the last window's own level, or None when it is not."""
        if not self.windows or not self.levels:
            return None
        status, level = self.windows[-1][2], self.levels[-1]
        if level is None or status <= 0 or level >= status:
            return None
        first = len(self.windows) - 1
        while first > 0 and self.windows[first - 1][2] >= status:
            first -= 1
        found = re.search(r"after (\d+) windows", self.last_reason or "")
        clear_after = int(found.group(1)) if found else self.clear_after
        return (
            f"held by hysteresis: raised at {clock(self.windows[first][0])}, "
            f"this window alone is {sc.STATUS_NAMES[level]}; clears after "
            f"{clear_after} windows below"
        )


def clock(stamp: float) -> str:
    """A unix time as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


_SHARE_CHANGE = re.compile(r"^(?P<bin>.+): (?P<before>[\d.]+)% -> (?P<after>[\d.]+)%$")


def share_changes(top_changes: tuple[str, ...]) -> list[tuple[str, float, float]]:
    """(bin, baseline share, window share) of each ``drift.top_changes`` entry that has them.

    >>> share_changes(("500: 1.0% -> 15.2%", "p50 12 ms -> 25 ms"))
    [('500', 0.01, 0.152)]
    """
    found = (_SHARE_CHANGE.match(text) for text in top_changes)
    return [
        (m["bin"], float(m["before"]) / 100, float(m["after"]) / 100)
        for m in found
        if m is not None
    ]


@dataclass
class Loaded:
    """What a source gave: the reports, and notes for the top of the page."""

    reports: list[WatchReport]
    notes: list[str] = field(default_factory=list)


def _processes_note(count: int, combine: bool) -> list[str]:
    if count <= 1:
        return []
    if combine:
        return [f"{count} processes combined (--combine): counts summed, windows interleaved"]
    return [f"{count} processes (service.instance.id), shown apart; --combine merges them"]


Key = tuple[str, str, str]
#: (process, (expectation, watch, bin)) -> [(export time ns, cumulative value)], oldest first.
Series = dict[tuple[str, tuple[str, str, str]], list[tuple[int, float]]]


def _points(path: Path, name: str) -> Iterator[tuple[str, dict[str, Any], int, float]]:
    """(process, attributes, time, value) of every point of metric ``name``."""
    for request in read_otlp_json(path):
        for resource_metrics in request.get("resourceMetrics", []):
            resource = attributes_dict(resource_metrics.get("resource", {}).get("attributes", []))
            source = process_name(resource)
            for scope in resource_metrics.get("scopeMetrics", []):
                for metric in scope.get("metrics", []):
                    if metric.get("name") != name:
                        continue
                    data = metric.get("sum") or metric.get("gauge") or {}
                    for point in data.get("dataPoints", []):
                        value = point.get("asDouble", point.get("asInt", 0))
                        yield (
                            source,
                            attributes_dict(point.get("attributes", [])),
                            int(point.get("timeUnixNano", 0)),
                            float(value),
                        )


def _series(path: Path, name: str) -> Series:
    series: Series = {}
    for source, attributes, stamp, value in _points(path, name):
        key = (
            str(attributes.get(sc.EXPECTATION)),
            str(attributes.get(sc.ATTRIBUTE)),
            # A bin written as a bool or number by another exporter reads as the engine's label.
            str(label(attributes.get(sc.BIN))),
        )
        series.setdefault((source, key), []).append((stamp, value))
    for points in series.values():
        points.sort()
    return series


def _at(points: list[tuple[int, float]], stamp_ns: float) -> tuple[int, float] | None:
    """The last export at or before ``stamp_ns``."""
    index = bisect.bisect_right(points, (stamp_ns, float("inf")))
    return points[index - 1] if index else None


def _after(points: list[tuple[int, float]], stamp_ns: float) -> tuple[int, float] | None:
    """The first export at or after ``stamp_ns``."""
    index = bisect.bisect_left(points, (stamp_ns, float("-inf")))
    return points[index] if index < len(points) else None


def _report(
    reports: dict[Key, WatchReport], process: str, expectation: str, watch: str
) -> WatchReport:
    return reports.setdefault(
        (process, expectation, watch), WatchReport(expectation, watch, process=process)
    )


def _window_counts(
    report: WatchReport, series: Series, combine: bool, start: float, end: float
) -> tuple[dict[str, float], str]:
    """Bin -> count between the exports around [start, end], and those exports' times."""
    counts: dict[str, float] = {}
    first, last = float("inf"), 0.0
    for (source, (expectation, watch, bin_name)), points in series.items():
        if (expectation, watch) != (report.expectation, report.watch):
            continue
        if not combine and source != report.process:
            continue
        # Cumulative counts: from the export nearest the window's start to the
        # first one at or after its end (exports come every minute or so, so
        # this is the window give or take the traffic between them).
        after = _after(points, end * 1e9)
        near = [e for e in (_at(points, start * 1e9), _after(points, start * 1e9)) if e]
        if after is None or not near:
            return {}, ""
        before = min(near, key=lambda e: abs(e[0] - start * 1e9))
        if before[0] >= after[0]:
            return {}, ""
        counts[bin_name] = counts.get(bin_name, 0.0) + after[1] - before[1]
        first, last = min(first, before[0] / 1e9), max(last, after[0] / 1e9)
    if not counts:
        return {}, ""
    return counts, f"counts between the exports at {clock(first)} and {clock(last)}"


def from_otlp_dir(directory: Path, combine: bool = False) -> Loaded:
    """Reports from an OTLP/JSON folder; each process apart unless ``combine`` or only one."""
    metrics = directory / METRICS_FILE_NAME
    traces = directory / TRACES_FILE_NAME
    counts: Series = _series(metrics, sc.METRIC_BIN_COUNT) if metrics.is_file() else {}
    fractions = _series(metrics, sc.METRIC_BASELINE_FRACTION) if metrics.is_file() else {}
    records = read_evaluations(traces) if traces.is_file() else []
    process_count = len({r.process for r in records} | {s for s, _ in fractions})
    notes = _processes_note(process_count, combine)
    combine = combine or process_count <= 1
    unread = [r for r in records if r.unread]
    if unread:
        notes.append(
            f"{len(unread)} drift.evaluation spans left out {sum(r.unread for r in unread)} "
            "watched values without naming them (all ok; the spans predate "
            "drift.watches.compact): those values' windows are missing below"
        )
    # Each process's last export, summed over processes when combined.
    lifetime: dict[tuple[str, tuple[str, str, str]], float] = {}
    for (source, key), points in counts.items():
        group = ("" if combine else source, key)
        lifetime[group] = lifetime.get(group, 0.0) + points[-1][1]
    reports: dict[Key, WatchReport] = {}
    # Bins in the order the process exported them (underflow, bins, overflow).
    for (source, key), points in fractions.items():
        process = "" if combine else source
        report = _report(reports, process, key[0], key[1])
        if key[2] not in report.bins:
            report.bins.append(key[2])
            report.baseline.append(points[-1][1])
            report.counts.append(lifetime.get((process, key), 0.0))
    for record in records:
        for watch, verdict in record.watches.items():
            report = _report(reports, "" if combine else record.process, record.expectation, watch)
            report.method = verdict.method
            end = (record.end_time_ns or record.start_time_ns) / 1e9
            report.windows.append((end, verdict.score, verdict.status))
            report.levels.append(verdict.level)
            report.last_reason = verdict.reason
            # The window's own level, not a status held over from an earlier one.
            own = verdict.status if verdict.level is None else verdict.level
            if own > 0 or verdict.top_changes:
                report.drifted = DriftedWindow(record.start_time_ns / 1e9, end, verdict)
    for report in reports.values():
        if report.drifted is not None:
            drifted = report.drifted
            drifted.counts, drifted.counted = _window_counts(
                report, counts, combine, drifted.start, drifted.end
            )
    return Loaded(ordered(reports.values()), notes)


def ordered(reports: Iterable[WatchReport]) -> list[WatchReport]:
    """Most severe first (critical, warning, no_data, ok), then by process and name."""
    return sorted(
        reports,
        key=lambda r: (_SEVERITY.get(r.last_status, 3), r.process, r.expectation, r.watch),
    )


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def from_prometheus(
    client: PrometheusClient,
    start: float,
    end: float,
    selector: str = "",
    combine: bool = False,
) -> Loaded:
    """Reports over [start, end], bin counts from the last samples in that range."""
    matchers = f"{{{selector}}}" if selector.strip() else ""
    window = _duration(end - start)
    by = f"{pq.EXPECTATION_LABEL}, {pq.ATTRIBUTE_LABEL}"
    instances = f"count by (instance) (last_over_time({pq.STATUS}{matchers}[{window}]))"
    process_count = len(client.query(instances, end))
    notes = _processes_note(process_count, combine)
    combine = combine or process_count <= 1
    if not combine:
        by += ", instance"
    group = f"{by}, {pq.BIN_LABEL}"
    counts = {
        _key(s.labels, combine): s.points[0][1]
        for s in client.query(
            f"sum by ({group}) (last_over_time({pq.BIN_COUNT}{matchers}[{window}]))", end
        )
    }
    reports: dict[Key, WatchReport] = {}
    baseline = f"max by ({group}) (last_over_time({pq.BASELINE_FRACTION}{matchers}[{window}]))"
    for series in client.query(baseline, end):
        process, expectation, watch, bin_name = _key(series.labels, combine)
        report = _report(reports, process, expectation, watch)
        report.bins.append(bin_name)
        report.baseline.append(series.points[0][1])
        report.counts.append(counts.get((process, expectation, watch, bin_name), 0.0))
    step = max(1.0, (end - start) / 200)
    by_method = f"{by}, {pq.METHOD_LABEL}"
    scores = client.query_range(f"max by ({by_method}) ({pq.SCORE}{matchers})", start, end, step)
    statuses = {
        _key(s.labels, combine)[:3]: dict(s.points)
        for s in client.query_range(
            f"max by ({by_method}) ({pq.STATUS}{matchers})", start, end, step
        )
    }
    for series in scores:
        process, expectation, watch, _ = _key(series.labels, combine)
        report = _report(reports, process, expectation, watch)
        report.method = series.labels.get(pq.METHOD_LABEL, "?")
        status = statuses.get((process, expectation, watch), {})
        report.windows = [(t, v, int(status.get(t, 0))) for t, v in series.points]
    for report in reports.values():
        _order_bins(report)
    return Loaded(ordered(reports.values()), notes)


def _key(labels: Mapping[str, str], combine: bool) -> tuple[str, str, str, str]:
    process = "" if combine else labels.get("instance", "?")
    return (process, *_bin_key(labels))


def _bin_key(labels: Mapping[str, str]) -> tuple[str, str, str]:
    return (
        labels.get(pq.EXPECTATION_LABEL, "?"),
        labels.get(pq.ATTRIBUTE_LABEL, "?"),
        labels.get(pq.BIN_LABEL, "?"),
    )


def _bin_order(label: str) -> tuple[int, float, str]:
    # Prometheus returns series unordered: numeric bins by their lower edge,
    # underflow first, overflow last, categories as they come (by name).
    if label == "underflow":
        return (0, 0.0, label)
    if label == "overflow":
        return (2, 0.0, label)
    if label.startswith("[") and "," in label:
        try:
            return (1, float(label[1:].split(",", 1)[0]), label)
        except ValueError:
            pass
    return (1, float("inf"), label)


def _order_bins(report: WatchReport) -> None:
    rows = sorted(
        zip(report.bins, report.baseline, report.counts, strict=True),
        key=lambda row: _bin_order(row[0]),
    )
    report.bins = [row[0] for row in rows]
    report.baseline = [row[1] for row in rows]
    report.counts = [row[2] for row in rows]
