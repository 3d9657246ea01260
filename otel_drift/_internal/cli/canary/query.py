"""The canary's and the baseline's per-bin counts over one range, from Prometheus.

Each process exports ``drift_bin_count_total`` (its lifetime count per bin,
labels ``drift_expectation``, ``drift_attribute``, ``drift_bin``). A side is
the processes a PromQL label selector picks, e.g. ``service_version="2.1.0"``;
its counts over the range are what those series gained in it (see
:meth:`CanaryQuery.counts_promql`), summed per bin, evaluated once at the
range's end. By default the selector is matched
against ``target_info``, where OpenTelemetry's Prometheus exporter puts the
resource attributes (``service.version`` -> ``service_version``), joined on
``job``/``instance``; ``selector_on="series"`` matches it on the drift series
themselves (a Collector with ``resource_to_telemetry_conversion``, or
Kubernetes labels added at scrape time).

Two queries a side (its targets, its counts), each one instant query: a gate
is cheap for Prometheus.

>>> q = CanaryQuery('service_version="2"', 'service_version="1"', 0.0, 300.0)
>>> print(q.targets_promql(q.canary))
group by (job, instance) (last_over_time(target_info{service_version="2"}[300000ms]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from otel_drift._internal.cli import promql as pq
from otel_drift._internal.cli.canary.verdict import FALLBACK_METHOD, WatchSpec
from otel_drift._internal.cli.prometheus import PrometheusClient
from otel_drift._internal.detectors import METHODS
from otel_drift._internal.expectations.model import (
    BinnedBaseline,
    CategoricalBaseline,
    ExpectationsFile,
)

SelectorOn = Literal["target_info", "series"]
SELECTOR_ON: tuple[SelectorOn, ...] = ("target_info", "series")
#: Bin label -> count, per (expectation, watched value).
Counts = dict[tuple[str, str], dict[str, float]]
_TARGET = ("job", "instance")


def clean_selector(text: str) -> str:
    """Label matchers without the braces; rejects what cannot be one selector.

    >>> clean_selector(' {service_version="2.1.0"} ')
    'service_version="2.1.0"'
    """
    selector = text.strip()
    if selector.startswith("{") and selector.endswith("}"):
        selector = selector[1:-1].strip()
    if not selector:
        raise ValueError('a selector needs at least one label matcher, e.g. service_version="2"')
    if "{" in selector or "}" in selector or "\n" in selector:
        raise ValueError(f'{text!r} is not a label selector such as service_version="2.1.0"')
    return selector


@dataclass(frozen=True)
class CanaryQuery:
    canary: str
    baseline: str
    start: float
    end: float
    selector_on: SelectorOn = "target_info"
    #: Only this expectation / these watched values (all when empty).
    expectation: str | None = None
    watches: tuple[str, ...] = field(default=())

    @property
    def _duration(self) -> str:
        return f"{max(1, round((self.end - self.start) * 1000))}ms"

    def targets_promql(self, selector: str) -> str:
        """The side's processes (one series per job/instance) seen in the range."""
        metric = "target_info" if self.selector_on == "target_info" else pq.BIN_COUNT
        return (
            f"group by ({', '.join(_TARGET)}) "
            f"(last_over_time({metric}{{{selector}}}[{self._duration}]))"
        )

    def counts_promql(self, selector: str) -> str:
        """Values per bin that the side counted in the range, exactly.

        ``increase()`` extrapolates to the range's edges from the samples'
        average rate: over a short range it is off by up to a scrape interval
        of traffic, and a test on counts must not be given counts that were
        never seen. So a series is the last value in the range minus the
        value at its start; one born in the range (a process started during
        it) counts from zero; only a series that reset (a restarted process
        on the same target) falls back to ``increase()``.
        """
        by = f"{pq.EXPECTATION_LABEL}, {pq.ATTRIBUTE_LABEL}, {pq.BIN_LABEL}"
        matchers = f"{{{selector}}}" if self.selector_on == "series" else ""
        series, duration = f"{pq.BIN_COUNT}{matchers}", self._duration
        last = f"last_over_time({series}[{duration}])"
        at_start = f"{series} offset {duration}"
        counts = (
            f"(({last} - {at_start}) unless resets({series}[{duration}]) > 0)\n"
            f"  or ({last} unless {at_start})\n"
            f"  or increase({series}[{duration}])"
        )
        if self.selector_on == "series":
            return f"sum by ({by}) (\n  {counts}\n)"
        return (
            f"sum by ({by}) (\n  ({counts})\n"
            f"  * on ({', '.join(_TARGET)}) group_left() {self.targets_promql(selector)}\n)"
        )


@dataclass(frozen=True)
class SideData:
    selector: str
    targets: list[str]
    counts: Counts


def fetch_side(client: PrometheusClient, query: CanaryQuery, selector: str) -> SideData:
    targets = sorted(
        "/".join(series.labels.get(label, "") for label in _TARGET)
        for series in client.query(query.targets_promql(selector), query.end)
    )
    counts: Counts = {}
    for series in client.query(query.counts_promql(selector), query.end):
        labels = series.labels
        key = (labels.get(pq.EXPECTATION_LABEL, "?"), labels.get(pq.ATTRIBUTE_LABEL, "?"))
        value = series.points[0][1]
        counts.setdefault(key, {})[labels.get(pq.BIN_LABEL, "?")] = (
            value if math.isfinite(value) else 0.0
        )
    return SideData(selector, targets, counts)


def watch_specs(
    expectations: ExpectationsFile, query: CanaryQuery, min_values: int | None
) -> list[WatchSpec]:
    """One spec per watched value with a binned or categorical baseline, in file order."""
    specs = []
    for expectation in expectations.expectations:
        if query.expectation and expectation.name != query.expectation:
            continue
        for watch in expectation.watch:
            if query.watches and watch.name not in query.watches:
                continue
            baseline = watch.baseline
            if not isinstance(baseline, BinnedBaseline | CategoricalBaseline):
                continue
            method, materiality = watch.method, watch.warning
            entry = METHODS.get(method)
            binned = baseline if isinstance(baseline, BinnedBaseline) else None
            if entry is None or entry.threshold_kind != "distance" or entry.score is None:
                fallback = METHODS[FALLBACK_METHOD]
                method = FALLBACK_METHOD
                materiality = fallback.defaults("numeric" if binned else "categorical")[0]
            specs.append(
                WatchSpec(
                    expectation.name,
                    watch.name,
                    method,
                    materiality,
                    needed=expectation.min_samples if min_values is None else min_values,
                    edges=binned.edges if binned else None,
                    scale=binned.std if binned else 1.0,
                    slower_is_bad=watch.source.kind == "span.duration",
                    unit=watch.source.unit if watch.source.kind == "span.duration" else "",
                )
            )
    return specs


def unknown_watches(expectations: ExpectationsFile, *sides: Counts) -> list[str]:
    """Watched values Prometheus has counts for but the expectations file does not name."""
    known = {(e.name, w.name) for e in expectations.expectations for w in e.watch}
    return sorted({f"{e}.{w}" for side in sides for e, w in side if (e, w) not in known})
