"""``otel-drift baseline --from-prometheus URL --service NAME``: expectations from Prometheus.

The same learned file as ``--from-traces``, from what Prometheus already
holds: contrib's HTTP duration histograms (``prom_histograms.py``: which
metrics, which labels, how ``--service`` picks the series), written as
``prom_document.py`` says (bins on the histogram's buckets, status and
traffic mix, ``learned:`` blocks; with ``--profile``, per hour).

``--window`` is a duration here (``5m`` by default; plain digits are
seconds): the engine's window is ``window: {seconds: ...}``, the span that
Prometheus' ``increase()`` counts over. The range is cut into consecutive
windows of that duration (a range query whose step is the window), each
window's counts are scored against the learned baseline as
``learn/reference.py`` scores a recording's windows, and the ``reference:``
blocks let the loader place thresholds that keep the service quiet against
its own history. Give a window of at least four scrape intervals.

Errors a user can fix (Prometheus unreachable, a query it rejects, no
series, bad options) exit with code 2 and a message naming the fix.
Costs, by arithmetic: up to 2 instant queries per family and way of picking
the service, then 2 range queries (in pieces of 500 windows) per family read;
memory as ``prom_histograms.py`` says.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from otel_drift._internal.cli.baseline.from_traces import PROFILES, print_thin, target_filter
from otel_drift._internal.cli.baseline.prom_document import PromDocument, Slots, when
from otel_drift._internal.cli.baseline.prom_histograms import (
    FAMILIES,
    MAX_WINDOWS,
    Family,
    Key,
    Selection,
    Windows,
    selections,
    totals,
    window_counts,
)
from otel_drift._internal.cli.canary.query import clean_selector
from otel_drift._internal.cli.prometheus import PrometheusClient, PrometheusError
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from otel_drift._internal.cli.timerange import parse_duration, time_range
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import loads_expectations
from otel_drift._internal.expectations.profiles import DEFAULT_TIMEZONE
from otel_drift._internal.learn.document import Learned, header
from otel_drift._internal.learn.yaml_text import dump

#: ``--window`` and ``--since`` unless given.
DEFAULT_WINDOW = "5m"
DEFAULT_SINCE = "7d"
#: Requests a route or host needs over the range to be learned, unless ``--min-spans``.
DEFAULT_MIN_REQUESTS = 500


class PrometheusBaselineError(Exception):
    """What stops learning: the message says what and the fix; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def window_value(text: str) -> int | str:
    """``--window``: a count (rows, spans; seconds with ``--from-prometheus``) or a duration."""
    if text.strip().isdigit():
        return int(text)
    try:
        parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def prometheus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-prometheus",
        metavar="URL",
        help="learn a service's expectations from the HTTP duration histograms Prometheus holds "
        "(needs --service; --window is then a duration, default "
        f"{DEFAULT_WINDOW})",
    )
    parser.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        help=f"with --from-prometheus: how far back ({DEFAULT_SINCE})",
    )
    parser.add_argument("--start", help="with --from-prometheus: range start (unix s or RFC 3339)")
    parser.add_argument("--end", help="with --from-prometheus: range end (default: now)")
    parser.add_argument(
        "--selector",
        help='with --from-prometheus: more label matchers for the histograms, e.g. env="prod"',
    )


@dataclass
class _Found:
    selection: Selection
    #: The family read per kind, and its keys' requests over the range.
    families: dict[str, tuple[Family, dict[Key, float]]]


def _find(client: PrometheusClient, service: str, extra: str, windows: Windows) -> _Found:
    """The first way of picking ``--service`` that finds series; per kind, the family read."""
    for selection in selections(service, extra):
        families: dict[str, tuple[Family, dict[Key, float]]] = {}
        for family in FAMILIES:  # stable first: with http/dup it is read, the old one not
            if family.kind in families:
                continue
            found = totals(client, family, selection, windows)
            if found:
                families[family.kind] = (family, found)
        if families:
            return _Found(selection, families)
    metrics = ", ".join(f"{f.metric}_bucket" for f in FAMILIES)
    raise PrometheusBaselineError(
        f"{client.base_url}: no HTTP duration histograms of service {service!r} from "
        f"{when(windows.start)} to {when(windows.end)} ({metrics}; looked for series labelled "
        f"service_name, targets whose target_info has that service_name, and scrape job "
        f"{service!r}{' with ' + extra if extra else ''}). Check --service and --since, and that "
        "the service exports metrics (OTEL_METRICS_EXPORTER=prometheus) which Prometheus scrapes."
    )


def _chosen(
    found: _Found, arguments: argparse.Namespace, keep: Callable[[str], bool]
) -> tuple[set[Key], list[str], list[str]]:
    """Keys learned (busiest first, servers before clients); left out: too few, over the limit."""
    least = DEFAULT_MIN_REQUESTS if arguments.min_spans is None else arguments.min_spans
    eligible, too_few = [], []
    for kind in ("server", "client"):
        _, requests = found.families.get(kind, (None, {}))
        for key, count in sorted(requests.items(), key=lambda item: -item[1]):
            if not keep(key[1]):
                continue
            if count < least:
                too_few.append(f"{key[1]} ({count:.0f} requests)")
            else:
                eligible.append(key)
    room = max(arguments.max_expectations - 1, 1)  # one is the traffic mix
    return set(eligible[:room]), too_few, [k[1] for k in eligible[room:]]


def _windows(arguments: argparse.Namespace) -> Windows:
    window = arguments.window if arguments.window is not None else DEFAULT_WINDOW
    try:
        seconds = float(window) if isinstance(window, int) else parse_duration(window)
        start, end = time_range(arguments.since, arguments.start, arguments.end)
    except ValueError as error:
        raise PrometheusBaselineError(f"--window/--since/--start/--end: {error}") from None
    count = int((end - start) // seconds) if seconds > 0 else 0
    if count < 1:
        raise PrometheusBaselineError(
            f"--window {window} is longer than the range ({end - start:.0f} s); "
            "shorten --window or lengthen --since."
        )
    if count > MAX_WINDOWS:
        raise PrometheusBaselineError(
            f"--window {window} cuts the range into {count:,} windows, more than {MAX_WINDOWS:,}; "
            "lengthen --window or shorten --since."
        )
    return Windows(end, seconds, count)


def learn(arguments: argparse.Namespace) -> tuple[str, int]:
    """(YAML text, number of expectations) learned from Prometheus."""
    if not arguments.service:
        raise PrometheusBaselineError(
            "--from-prometheus needs --service NAME: the service.name (or scrape job) to learn."
        )
    if arguments.update is not None:
        raise PrometheusBaselineError(
            "--update relearns from --from-traces only; learn into a new file with "
            "--from-prometheus and compare, or record traces for --update."
        )
    try:
        extra = clean_selector(arguments.selector) if arguments.selector else ""
        keep = target_filter(arguments.include, arguments.exclude or None)
    except (ValueError, re.error) as error:
        raise PrometheusBaselineError(f"--selector/--include/--exclude: {error}") from None
    windows = _windows(arguments)
    client = PrometheusClient(arguments.from_prometheus, timeout_s=60.0)
    found = _find(client, arguments.service, extra, windows)
    chosen, too_few, over = _chosen(found, arguments, keep)
    for note, names in (("too few requests", too_few), ("beyond --max-expectations", over)):
        if names:
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            print(f"otel-drift baseline: left out ({note}): {shown}", file=sys.stderr)
    if not chosen:
        raise PrometheusBaselineError(
            f"{client.base_url}: no route or host of service {arguments.service!r} had "
            f"--min-spans {arguments.min_spans or DEFAULT_MIN_REQUESTS} requests; lower "
            "--min-spans or lengthen --since.",
            EXIT_FAILED,
        )
    learning = PromDocument(client.base_url, found.selection, windows, _slots(arguments, windows))
    for kind in ("server", "client"):
        if kind not in found.families:
            continue
        family = found.families[kind][0]
        counts = window_counts(client, family, found.selection, windows, chosen.__contains__)
        keys = sorted(counts.values(), key=lambda c: -sum(c.buckets.get(math.inf, [0.0])))
        methods: dict[str, int] = defaultdict(int)
        for key in keys:
            methods[key.target] += 1
        if kind == "server" and keys:
            learning.mix(keys)
        for key in keys:
            learning.key(key, by_method=kind == "server" and methods[key.target] > 1)
    if not learning.entries:
        raise PrometheusBaselineError(
            f"{client.base_url}: the histograms of service {arguments.service!r} held no counts "
            "in the range's windows; lengthen --since.",
            EXIT_FAILED,
        )
    learning.reference()
    document = learning.document
    learned = Learned(document, learning.requests, int(windows.start * 1e9), int(windows.end * 1e9))
    source = f"Prometheus at {client.base_url} ({found.selection.describe()})"
    return dump(document, header(learned, source)), len(learning.entries)


def _slots(arguments: argparse.Namespace, windows: Windows) -> Slots | None:
    """``--profile``: the slot each window starts in."""
    if arguments.profile is None:
        if arguments.timezone is not None:
            raise PrometheusBaselineError("--timezone goes with --profile.")
        return None
    timezone = arguments.timezone or DEFAULT_TIMEZONE
    try:
        return Slots.of(PROFILES[arguments.profile], timezone, windows)
    except (ValueError, KeyError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise PrometheusBaselineError(
            f"--timezone {timezone!r}: not an IANA time zone such as Europe/Paris ({error})."
        ) from None


def from_prometheus(arguments: argparse.Namespace) -> int:
    output = arguments.output
    try:
        text, count = learn(arguments)
        loads_expectations(text, path=str(output))
    except PrometheusError as error:
        print(f"otel-drift baseline: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PrometheusBaselineError as error:
        print(f"otel-drift baseline: {error}", file=sys.stderr)
        return error.code
    except ExpectationsError as error:  # a bug of ours: say so rather than write it
        print(f"otel-drift baseline: the learned file is invalid:\n{error}", file=sys.stderr)
        return EXIT_FAILED
    output.write_text(text, encoding="utf-8")
    print_thin(yaml.safe_load(text))
    print(
        f"{output}: wrote {count} expectations for service {arguments.service!r}", file=sys.stderr
    )
    return EXIT_OK
