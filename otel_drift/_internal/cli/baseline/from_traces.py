"""``otel-drift baseline --from-traces PATH...``: a service's expectations from recorded spans.

Reads the ``otlp_json_file`` exporter's ``traces.jsonl`` (the file, or the
folder holding it; several, e.g. one per replica) and plain OTLP/JSON export
requests (a ``.json`` file holding one request, or JSON Lines of them),
through the exporter's own reader, one request at a time: a million spans are
streamed, never held. Each span becomes a ``learn.SpanRecord`` and goes to a
``learn.Learner`` per service; the learned document is checked like
``otel-drift validate`` before it is written (atomically: a temporary file
renamed over the output). otel-drift's own spans (``drift.evaluation``,
violations) are left out. ``--profile`` learns each baseline per hour of the
day or week (``learn/slots.py``, ``learn/profile.py``); ``--update EXISTING``
merges what was learned into EXISTING, keeping the user's edits
(``learn/update.py``).

Measured on a synthetic recording of a million server spans (3 routes, one
request per 100 spans): see benchmarks/RESULTS.md, "Learning".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from otel_drift._internal import semconv as sc
from otel_drift._internal.cli.baseline.progress import Progress
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from otel_drift._internal.cli.traces import request_spans
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.learned import TRUSTED_WINDOWS
from otel_drift._internal.expectations.load import loads_expectations
from otel_drift._internal.expectations.profiles import DEFAULT_TIMEZONE
from otel_drift._internal.exporters.otlp_json_file import (
    TRACES_FILE_NAME,
    attribute_value,
    read_otlp_json,
)
from otel_drift._internal.learn.accumulate import Learner
from otel_drift._internal.learn.discover import Key, SpanRecord
from otel_drift._internal.learn.document import Options, header, learned_document, thin_references
from otel_drift._internal.learn.slots import Slotting
from otel_drift._internal.learn.update import read_existing, updated_document
from otel_drift._internal.learn.yaml_text import dump

#: Defaults of the options that mean something else for a CSV.
DEFAULT_WINDOW = 200
DEFAULT_MIN_SPANS = 500
DEFAULT_MAX_EXPECTATIONS = 100
#: Services learned apart in one pass (the recording's first ones).
MAX_SERVICES = 32
#: OTLP's SpanKind numbers -> ``span_kind:`` names.
KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUSES = {0: "UNSET", 1: "OK", 2: "ERROR"}
#: Spans between two progress updates.
PROGRESS_EVERY = 10_000
#: ``--profile`` choices -> the file's profile kinds.
PROFILES = {"hour-of-day": "hour_of_day", "hour-of-week": "hour_of_week"}


class TracesError(Exception):
    """Input that cannot be learned from: the message names the path and the fix."""


def trace_files(paths: list[Path]) -> list[Path]:
    """The files to read: each path, or the ``traces.jsonl`` in each folder."""
    files = []
    for path in paths:
        if path.is_dir():
            found = path / TRACES_FILE_NAME
            if not found.is_file():
                raise TracesError(
                    f"{path}: a folder without {TRACES_FILE_NAME}; give the folder the "
                    "otlp_json_file exporter wrote (OTEL_DRIFT_OTLP_JSON_DIR) or the file itself."
                )
            files.append(found)
        elif path.is_file():
            files.append(path)
        else:
            raise TracesError(f"{path}: no such file or folder.")
    return files


def _requests(path: Path) -> Iterator[Mapping[str, Any]]:
    """JSON Lines of export requests; or a ``.json`` file holding one (or a list)."""
    if path.suffix == ".json":
        try:
            document = json.loads(path.read_bytes())
        except ValueError as error:
            raise TracesError(
                f"{path}: not JSON ({error}); give an OTLP/JSON export request or JSON Lines."
            ) from error
        yield from document if isinstance(document, list) else [document]
        return
    yield from read_otlp_json(path)


def _attributes(items: list[Mapping[str, Any]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for item in items:
        value = item.get("value", {})
        if "arrayValue" in value:
            found[item["key"]] = tuple(
                attribute_value({"value": v}) for v in value["arrayValue"].get("values", [])
            )
        else:
            found[item["key"]] = attribute_value(item)
    return found


def _record(scope: str, span: Mapping[str, Any]) -> SpanRecord:
    events = [
        (str(event.get("name", "")), _attributes(event.get("attributes", [])))
        for event in span.get("events", ())
    ]
    return SpanRecord(
        name=str(span.get("name", "")),
        kind=KINDS.get(int(span.get("kind", 1)), "internal"),
        scope=scope,
        attributes=_attributes(span.get("attributes", [])),
        start_ns=int(span.get("startTimeUnixNano", 0)),
        end_ns=int(span.get("endTimeUnixNano", 0)),
        status=STATUSES.get(int(span.get("status", {}).get("code", 0)), "UNSET"),
        events=events,
    )


def spans(files: list[Path]) -> Iterator[tuple[str, SpanRecord]]:
    """(service.name, record) of every span of the files, otel-drift's own left out."""
    for path in files:
        try:
            for request in _requests(path):
                for resource, scope, span in request_spans(request):
                    if scope == sc.OWN_SCOPE:
                        continue
                    yield str(resource.get(sc.SERVICE_NAME, "?")), _record(scope, span)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise TracesError(
                f"{path}: not OTLP/JSON spans ({error!r}); give the otlp_json_file exporter's "
                f"{TRACES_FILE_NAME} or OTLP/JSON export requests."
            ) from error


def print_thin(document: Mapping[str, Any]) -> None:
    """Name the expectations whose thresholds rest on few reference windows, and the fix."""
    thin = thin_references(document)
    if thin:
        shown = ", ".join(thin[:10]) + (f" and {len(thin) - 10} more" if len(thin) > 10 else "")
        print(
            f"otel-drift baseline: thresholds learned from fewer than {TRUSTED_WINDOWS} windows "
            f"(a steady window unlike every recorded one may alarm; record longer or pass a "
            f"smaller --window): {shown}",
            file=sys.stderr,
        )


def target_filter(include: str | None, exclude: str | None) -> Callable[[str], bool]:
    """--include / --exclude: regular expressions a route or client target must
    match, and must not (``re.error`` for a bad one)."""
    wanted = re.compile(include) if include else None
    unwanted = re.compile(exclude) if exclude else None
    return lambda target: (
        (wanted is None or bool(wanted.search(target)))
        and (unwanted is None or not unwanted.search(target))
    )


def _selector(include: str | None, exclude: str | None) -> Callable[[Key], bool]:
    """Which keys to learn: routes and client targets against --include / --exclude."""
    kept = target_filter(include, exclude)
    return lambda key: key.family not in ("route", "client") or kept(key.target)


def learn(arguments: argparse.Namespace, files: list[Path]) -> tuple[str, str]:
    """(YAML text, what it holds) learned from ``files``."""
    existing = read_existing(arguments.update) if arguments.update is not None else None
    profile = (
        Slotting(PROFILES[arguments.profile], arguments.timezone or DEFAULT_TIMEZONE)
        if arguments.profile is not None
        else None
    )
    window = arguments.window or DEFAULT_WINDOW
    keep = _selector(arguments.include, arguments.exclude or None)
    options = Options(
        window=window,
        min_spans=DEFAULT_MIN_SPANS if arguments.min_spans is None else arguments.min_spans,
        max_expectations=arguments.max_expectations,
        bins=max(arguments.bins, 3),
    )
    learners: dict[str, Learner] = {}
    show = arguments.progress if arguments.progress is not None else sys.stderr.isatty()
    progress = Progress(sys.stderr, show, 1, unit="spans")
    progress.start(1, None)
    read = 0
    for service, record in spans(files):
        read += 1
        if read % PROGRESS_EVERY == 0:
            progress.update(PROGRESS_EVERY)
        if arguments.service is not None and service != arguments.service:
            continue
        learner = learners.get(service)
        if learner is None:
            if len(learners) >= MAX_SERVICES:
                continue
            learner = learners[service] = Learner(
                window=window,
                max_keys=max(4 * options.max_expectations, 256),
                keep=keep,
                profile=profile,
            )
        learner.add(record)
    progress.close()
    if not learners:
        wanted = f" of service {arguments.service!r}" if arguments.service else ""
        raise TracesError(
            f"{', '.join(map(str, files))}: no spans{wanted} ({read:,} spans read); "
            "check --service and that the exporter wrote spans (OTEL_TRACES_EXPORTER)."
        )
    if len(learners) > 1:
        services = ", ".join(sorted(learners))
        raise TracesError(
            f"{', '.join(map(str, files))}: spans of several services ({services}); "
            "choose one with --service NAME."
        )
    ((service, learner),) = learners.items()
    learner.finish()
    if existing is None:
        learned, summary = learned_document(learner, options), ""
    else:
        learned, merge = updated_document(learner, options, existing)
        summary = merge.text()
    for note, names in (
        (f"fewer than --min-spans {options.min_spans} spans", learned.too_few),
        (f"beyond --max-expectations {options.max_expectations}", learned.over_limit),
    ):
        if names:
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            print(f"otel-drift baseline: left out ({note}): {shown}", file=sys.stderr)
    print_thin(learned.document)
    if learner.untracked:
        print(
            f"otel-drift baseline: {sum(learner.untracked.values()):,} spans of keys beyond "
            f"the first {learner.max_keys} were not learned.",
            file=sys.stderr,
        )
    if not learned.document["expectations"]:
        raise TracesError(
            f"{', '.join(map(str, files))}: nothing of service {service!r} was seen "
            f"--min-spans {options.min_spans} times; lower --min-spans or record longer."
        )
    source = f"the spans of service {service!r} in {', '.join(map(str, files))}"
    opening = header(learned, source)
    if existing is not None:
        opening += f"Updated from {existing.path}: {summary}.\n"
    count = len(learned.document["expectations"])
    written = f"{count} expectations for service {service!r}" + (f"; {summary}" if summary else "")
    return dump(learned.document, opening), written


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file in its folder, renamed over it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def from_traces(arguments: argparse.Namespace) -> int:
    output: Path = arguments.output
    if arguments.max_expectations < 1 or (arguments.window is not None and arguments.window < 1):
        print("otel-drift baseline: --window and --max-expectations must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    for pattern in (arguments.include, arguments.exclude):
        try:
            re.compile(pattern or "")
        except re.error as error:
            print(
                f"otel-drift baseline: bad regular expression {pattern!r}: {error}", file=sys.stderr
            )
            return EXIT_USAGE
    if arguments.timezone is not None and arguments.profile is None:
        print("otel-drift baseline: --timezone goes with --profile", file=sys.stderr)
        return EXIT_USAGE
    if arguments.profile is not None:
        try:
            Slotting(PROFILES[arguments.profile], arguments.timezone or DEFAULT_TIMEZONE)
        except (KeyError, ValueError) as error:  # ZoneInfoNotFoundError is a KeyError
            print(
                f"otel-drift baseline: --timezone {arguments.timezone!r} is unknown ({error!r}); "
                "give an IANA name such as Europe/Paris, or UTC.",
                file=sys.stderr,
            )
            return EXIT_USAGE
    try:
        files = trace_files(arguments.from_traces)
        text, written = learn(arguments, files)
    except TracesError as error:
        print(f"otel-drift baseline: {error}", file=sys.stderr)
        return EXIT_FAILED
    except ExpectationsError as error:  # --update: EXISTING must load first
        print(f"otel-drift baseline: --update needs a valid file:\n{error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        loads_expectations(text, path=str(output))
    except ExpectationsError as error:  # a bug of ours: say so rather than write it
        print(f"otel-drift baseline: the learned file is invalid:\n{error}", file=sys.stderr)
        return EXIT_FAILED
    write_atomically(output, text)
    print(f"{output}: wrote {written}", file=sys.stderr)
    return EXIT_OK
