"""A service's HTTP duration histograms over a time range, window by window, from Prometheus.

``otel-drift baseline --from-prometheus`` learns from what contrib's
instrumentations already export. Their Prometheus names (checked with the
``prometheus`` metrics exporter and opentelemetry-instrumentation-flask /
fastapi / requests / httpx 0.66b1):

* stable conventions (``OTEL_SEMCONV_STABILITY_OPT_IN=http``):
  ``http_server_request_duration_seconds`` (``http_route``,
  ``http_request_method``, ``http_response_status_code``) and
  ``http_client_request_duration_seconds`` (``server_address``, ...);
* the old ones (the default): ``http_server_duration_milliseconds``
  (``http_target`` holds the route template, ``http_method``,
  ``http_status_code``) and ``http_client_duration_milliseconds``
  (``net_peer_name``);
* ``http/dup`` exports both for the same requests: the stable family is
  read, the old one left alone, so nothing is counted twice.

The exporter puts ``service.name`` on ``target_info`` only; Prometheus adds
``job`` and ``instance``. ``--service NAME`` picks, in this order, the series
that carry ``service_name="NAME"`` themselves (a Collector with
``resource_to_telemetry_conversion``), those of the targets whose
``target_info`` says ``service_name="NAME"``, and those of scrape job
``NAME``: the first that finds any series is used, and named in the file.

Windows: each query is a range query whose step is the window's duration,
``increase(...[window])`` at each step, so each point is one window's count
per bucket (or per status code); the baseline is their sum. A range query is
cut into pieces of :data:`CHUNK` windows so that Prometheus' 11,000-point
limit and the parsed JSON stay small. Memory: 8 bytes per window per bucket
and status class of each kept key (7 days of 5-minute windows, 16 buckets
and 3 classes: 300 kB a route).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from otel_drift._internal.cli.prometheus import PrometheusClient, Series
from otel_drift._internal.values import label, status_class

Kind = Literal["server", "client"]
Floats = np.ndarray[Any, np.dtype[np.float64]]
#: Windows per range query.
CHUNK = 500
#: Most windows one run reads (7 days of 1-minute windows).
MAX_WINDOWS = 10_080


@dataclass(frozen=True)
class Family:
    """One histogram metric of contrib's HTTP instrumentations, as Prometheus names it."""

    metric: str
    kind: Kind
    #: Labels naming the route (server) or host (client); the first present wins.
    targets: tuple[str, ...]
    #: The method label ("" for clients: their calls are learned per host).
    method: str
    status: str
    #: Multiplier from the histogram's unit to the file's milliseconds.
    to_ms: float
    #: The span attribute that carries the method, for ``match``.
    method_attribute: str
    stable: bool


FAMILIES = (
    Family(
        "http_server_request_duration_seconds",
        "server",
        ("http_route",),
        "http_request_method",
        "http_response_status_code",
        1000.0,
        "http.request.method",
        stable=True,
    ),
    Family(
        "http_server_duration_milliseconds",
        "server",
        ("http_route", "http_target"),
        "http_method",
        "http_status_code",
        1.0,
        "http.method",
        stable=False,
    ),
    Family(
        "http_client_request_duration_seconds",
        "client",
        ("server_address",),
        "",
        "http_response_status_code",
        1000.0,
        "http.request.method",
        stable=True,
    ),
    Family(
        "http_client_duration_milliseconds",
        "client",
        ("net_peer_name",),
        "",
        "http_status_code",
        1.0,
        "http.method",
        stable=False,
    ),
)


def quote(text: str) -> str:
    """A PromQL string literal.

    >>> print(quote('a"b\\\\c'))
    "a\\"b\\\\c"
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Selection:
    """How ``--service`` picks the series: by a label on them, or through ``target_info``.

    >>> s = Selection("target_info", "shop", 'env="prod"')
    >>> for part in s.increase("m_count", "5m").split(" * "):
    ...     print(part)
    increase(m_count{env="prod"}[5m])
    on (job, instance) group_left() group by (job, instance) (target_info{service_name="shop"})
    >>> print(Selection("job", "shop").increase("m_count", "5m"))
    increase(m_count{job="shop"}[5m])
    """

    how: Literal["service_name", "target_info", "job"]
    service: str
    #: Extra label matchers for the histogram series (``--selector``), without braces.
    extra: str = ""

    def increase(self, series: str, window: str) -> str:
        matchers = [self.extra] if self.extra else []
        if self.how != "target_info":
            matchers.insert(0, f"{self.how}={quote(self.service)}")
        counted = f"increase({series}{{{', '.join(matchers)}}}[{window}])"
        if self.how != "target_info":
            return counted
        info = f"target_info{{service_name={quote(self.service)}}}"
        return f"{counted} * on (job, instance) group_left() group by (job, instance) ({info})"

    def describe(self) -> str:
        named = {
            "service_name": f"series labelled service_name={quote(self.service)}",
            "target_info": f"targets whose target_info has service_name={quote(self.service)}",
            "job": f"scrape job {quote(self.service)}",
        }[self.how]
        return f"{named} and {{{self.extra}}}" if self.extra else named


def selections(service: str, extra: str) -> list[Selection]:
    return [Selection(how, service, extra) for how in ("service_name", "target_info", "job")]


@dataclass(frozen=True)
class Windows:
    """``count`` consecutive windows of ``seconds`` ending at ``end`` (unix seconds)."""

    end: float
    seconds: float
    count: int

    @property
    def start(self) -> float:
        return self.end - self.count * self.seconds

    @property
    def promql_window(self) -> str:
        return f"{max(1, round(self.seconds * 1000))}ms"

    def index(self, stamp: float) -> int:
        """The window a range query's point at ``stamp`` (its end) counts."""
        return self.count - 1 - round((self.end - stamp) / self.seconds)


@dataclass
class KeyCounts:
    """One route (server: route and method) or client host: per-window counts."""

    family: Family
    target: str
    method: str
    #: Bucket upper bound (the histogram's unit; inf last) -> cumulative count per window.
    buckets: dict[float, Floats] = field(default_factory=dict)
    #: Status class ("2xx") -> count per window.
    statuses: dict[str, Floats] = field(default_factory=dict)


def _column(table: dict[Any, Floats], key: object, n: int) -> Floats:
    found = table.get(key)
    if found is None:
        found = table[key] = np.zeros(n)
    return found


Key = tuple[Kind, str, str]


def _target(family: Family, labels: dict[str, str]) -> str:
    return next((labels[name] for name in family.targets if labels.get(name)), "")


def _by(family: Family, *more: str) -> str:
    names = [*family.targets, *([family.method] if family.method else []), *more]
    return ", ".join(names)


def key_of(family: Family, labels: dict[str, str]) -> Key | None:
    target = _target(family, labels)
    if not target:
        return None
    return family.kind, target, labels.get(family.method, "") if family.method else ""


def totals(
    client: PrometheusClient, family: Family, selection: Selection, windows: Windows
) -> dict[Key, float]:
    """Requests per key over the whole range (one instant query)."""
    duration = f"{max(1, round(windows.count * windows.seconds * 1000))}ms"
    promql = f"sum by ({_by(family)}) ({selection.increase(family.metric + '_count', duration)})"
    found: dict[Key, float] = {}
    for series in client.query(promql, windows.end):
        key = key_of(family, series.labels)
        value = series.points[0][1]
        if key is not None and math.isfinite(value) and value > 0:
            found[key] = found.get(key, 0.0) + value
    return found


def _points(
    client: PrometheusClient, promql: str, windows: Windows
) -> Iterable[tuple[Series, np.ndarray, np.ndarray]]:
    """Each series of ``promql`` over the windows: (series, window indexes, values), by chunk."""
    first = 0
    while first < windows.count:
        last = min(first + CHUNK, windows.count) - 1
        begin = windows.end - (windows.count - 1 - first) * windows.seconds
        stop = windows.end - (windows.count - 1 - last) * windows.seconds
        for series in client.query_range(promql, begin, stop, windows.seconds):
            stamps = np.array([p[0] for p in series.points])
            values = np.array([p[1] for p in series.points])
            indexes = np.array([windows.index(s) for s in stamps], dtype=np.int64)
            good = np.isfinite(values) & (indexes >= 0) & (indexes < windows.count)
            yield series, indexes[good], values[good]
        first = last + 1


def window_counts(
    client: PrometheusClient,
    family: Family,
    selection: Selection,
    windows: Windows,
    keep: Callable[[Key], bool],
) -> dict[Key, KeyCounts]:
    """Per kept key: each window's cumulative bucket counts and status-class counts."""
    found: dict[Key, KeyCounts] = {}
    window = windows.promql_window
    n = windows.count

    def counts(labels: dict[str, str]) -> KeyCounts | None:
        key = key_of(family, labels)
        if key is None or not keep(key):
            return None
        entry = found.get(key)
        if entry is None:
            entry = found[key] = KeyCounts(family, key[1], key[2])
        return entry

    buckets = (
        f"sum by ({_by(family, 'le')}) ({selection.increase(family.metric + '_bucket', window)})"
    )
    for series, indexes, values in _points(client, buckets, windows):
        entry = counts(series.labels)
        bound = _bound(series.labels.get("le", ""))
        if entry is not None and bound is not None:
            _column(entry.buckets, bound, n)[indexes] += values
    statuses = (
        f"sum by ({_by(family, family.status)}) "
        f"({selection.increase(family.metric + '_count', window)})"
    )
    for series, indexes, values in _points(client, statuses, windows):
        entry = counts(series.labels)
        code = label(status_class(series.labels.get(family.status, "")))
        if entry is not None and code:
            _column(entry.statuses, code, n)[indexes] += values
    return found


def _bound(text: str) -> float | None:
    try:
        return float(text)  # "+Inf" -> inf
    except ValueError:
        return None
