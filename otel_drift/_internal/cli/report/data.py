"""What ``otel-drift report`` shows, read from exported telemetry.

Two sources, one model (:class:`WatchReport` per expectation and watched value):

- an OTLP/JSON folder (``traces.jsonl`` + ``metrics.jsonl``, as the demo
  writes): bin counts and baseline fractions from the last metrics export of
  each process (summed over processes), scores and statuses over time from the
  ``drift.evaluation`` spans;
- Prometheus: the same from ``drift_bin_count_total``,
  ``drift_baseline_fraction``, ``drift_score`` and ``drift_status``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_drift._internal import semconv as sc
from otel_drift._internal.cli import promql as pq
from otel_drift._internal.cli.prometheus import PrometheusClient
from otel_drift._internal.cli.summary import read_evaluations
from otel_drift._internal.exporters.otlp_json_file import (
    METRICS_FILE_NAME,
    TRACES_FILE_NAME,
    attributes_dict,
    read_otlp_json,
)


@dataclass
class WatchReport:
    expectation: str
    watch: str
    method: str = "?"
    bins: list[str] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    #: (unix seconds, score or None, status) per closed window, oldest first.
    windows: list[tuple[float, float | None, int]] = field(default_factory=list)
    warning: float | None = None
    critical: float | None = None

    @property
    def last_status(self) -> int:
        return self.windows[-1][2] if self.windows else 0

    @property
    def last_score(self) -> float | None:
        for _, score, _ in reversed(self.windows):
            if score is not None:
                return score
        return None


Key = tuple[str, str]


def _points(path: Path, name: str) -> Iterator[tuple[str, dict[str, Any], int, float]]:
    """(resource id, attributes, time, value) of every point of metric ``name``."""
    for request in read_otlp_json(path):
        for resource_metrics in request.get("resourceMetrics", []):
            resource = attributes_dict(resource_metrics.get("resource", {}).get("attributes", []))
            source = str(resource.get("service.instance.id") or sorted(resource.items()))
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


def _latest(path: Path, name: str) -> dict[tuple[str, str, str], float]:
    """(expectation, watch, bin) -> value at each process's last export, summed over processes."""
    latest: dict[tuple[str, tuple[str, str, str]], tuple[int, float]] = {}
    for source, attributes, stamp, value in _points(path, name):
        key = (
            str(attributes.get(sc.EXPECTATION)),
            str(attributes.get(sc.ATTRIBUTE)),
            str(attributes.get(sc.BIN)),
        )
        previous = latest.get((source, key))
        if previous is None or stamp >= previous[0]:
            latest[(source, key)] = (stamp, value)
    summed: dict[tuple[str, str, str], float] = {}
    for (_source, key), (_stamp, value) in latest.items():
        summed[key] = summed.get(key, 0.0) + value
    return summed


def _report(reports: dict[Key, WatchReport], expectation: str, watch: str) -> WatchReport:
    return reports.setdefault((expectation, watch), WatchReport(expectation, watch))


def from_otlp_dir(directory: Path) -> list[WatchReport]:
    reports: dict[Key, WatchReport] = {}
    metrics = directory / METRICS_FILE_NAME
    if metrics.is_file():
        counts = _latest(metrics, sc.METRIC_BIN_COUNT)
        fractions = _latest(metrics, sc.METRIC_BASELINE_FRACTION)
        # Bins in the order the process exported them (underflow, bins, overflow).
        for (expectation, watch, label), fraction in fractions.items():
            report = _report(reports, expectation, watch)
            if label not in report.bins:
                report.bins.append(label)
                report.baseline.append(fraction)
                report.counts.append(counts.get((expectation, watch, label), 0.0))
    traces = directory / TRACES_FILE_NAME
    if traces.is_file():
        for record in read_evaluations(traces):
            for watch, (status, score, method) in record.watches.items():
                report = _report(reports, record.expectation, watch)
                report.method = method
                report.windows.append((record.start_time_ns / 1e9, score, status))
    return [reports[key] for key in sorted(reports)]


def from_prometheus(
    client: PrometheusClient, start: float, end: float, selector: str = ""
) -> list[WatchReport]:
    reports: dict[Key, WatchReport] = {}
    matchers = f"{{{selector}}}" if selector.strip() else ""
    group = f"{pq.EXPECTATION_LABEL}, {pq.ATTRIBUTE_LABEL}, {pq.BIN_LABEL}"
    counts = {
        _bin_key(s.labels): s.points[0][1]
        for s in client.query(f"sum by ({group}) ({pq.BIN_COUNT}{matchers})", end)
    }
    for series in client.query(f"max by ({group}) ({pq.BASELINE_FRACTION}{matchers})", end):
        expectation, watch, label = _bin_key(series.labels)
        report = _report(reports, expectation, watch)
        report.bins.append(label)
        report.baseline.append(series.points[0][1])
        report.counts.append(counts.get((expectation, watch, label), 0.0))
    step = max(1.0, (end - start) / 200)
    by = f"{pq.EXPECTATION_LABEL}, {pq.ATTRIBUTE_LABEL}, {pq.METHOD_LABEL}"
    scores = client.query_range(f"max by ({by}) ({pq.SCORE}{matchers})", start, end, step)
    statuses = {
        _bin_key(s.labels)[:2]: dict(s.points)
        for s in client.query_range(f"max by ({by}) ({pq.STATUS}{matchers})", start, end, step)
    }
    for series in scores:
        expectation, watch, _ = _bin_key(series.labels)
        report = _report(reports, expectation, watch)
        report.method = series.labels.get(pq.METHOD_LABEL, "?")
        status = statuses.get((expectation, watch), {})
        report.windows = [(t, v, int(status.get(t, 0))) for t, v in series.points]
    for report in reports.values():
        _order_bins(report)
    return [reports[key] for key in sorted(reports)]


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
