"""Read the drift verdicts back from an OTLP/JSON traces file, for ``summary`` and ``report``.

One reader for both commands, so they agree on what a window said: each
``drift.evaluation`` span becomes an :class:`EvaluationRecord` holding every
watched value it names - in its ``drift.watch.<w>.*`` attributes, in
``drift.watches.compact`` (the ok values left out of the attributes for room)
and in its ``drift.detected`` events (level, p-value, what moved, why) - and
the process that wrote it (``service.name``, ``service.instance.id``), so
replicas writing to one folder stay apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from otel_drift._internal import semconv as sc
from otel_drift._internal.exporters.otlp_json_file import (
    attribute_value,
    attributes_dict,
    read_otlp_json,
)


class WatchWindow(NamedTuple):
    """One watched value's verdict for one window."""

    status: int
    score: float | None
    method: str
    samples: int | None = None
    p_value: float | None = None
    #: The window's own level before hysteresis (from its ``drift.detected``
    #: event; None when the span says nothing of it, as for an ok value).
    level: int | None = None
    #: ``drift.top_changes``: what moved most, e.g. ``500: 1.0% -> 15.2%``.
    top_changes: tuple[str, ...] = ()
    #: ``drift.reason_text``: why the status is what it is, when not by the score.
    reason: str | None = None
    warning: float | None = None
    critical: float | None = None
    #: ``drift.explained_by`` with ``drift.explained_share``: the segments that carried
    #: the drift, e.g. ``("cloud.region=eu-west-1", 0.93)``.
    explained: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class EvaluationRecord:
    """One ``drift.evaluation`` span, as read back from OTLP/JSON."""

    service: str
    expectation: str
    start_time_ns: int
    status: int
    partial: bool
    spans: int
    watches: Mapping[str, WatchWindow]
    #: Watched values left off the span's attributes for room (the least severe ones).
    omitted: int = 0
    #: ``service.instance.id`` of the process that wrote it ("" when not set).
    instance: str = ""
    end_time_ns: int = 0
    #: Omitted values the span does not describe at all (a span written before
    #: ``drift.watches.compact``): only their count is known, and that they were ok.
    unread: int = 0

    @property
    def process(self) -> str:
        """``service.name``, and the instance id when there is one."""
        return process_name({sc.SERVICE_NAME: self.service, sc.SERVICE_INSTANCE_ID: self.instance})


def _strings(attribute: Mapping[str, Any]) -> tuple[str, ...]:
    """An OTLP/JSON array attribute's strings (a lone string counts as one)."""
    value = attribute.get("value", {})
    if "arrayValue" in value:
        items = value["arrayValue"].get("values", [])
        return tuple(str(v["stringValue"]) for v in items if "stringValue" in v)
    scalar = attribute_value(attribute)
    return () if scalar is None else (str(scalar),)


def _shares(items: list[Mapping[str, Any]]) -> tuple[float, ...]:
    """``drift.explained_share``'s numbers, from an OTLP/JSON array attribute."""
    for item in items:
        if item.get("key") == sc.EXPLAINED_SHARE:
            values = item.get("value", {}).get("arrayValue", {}).get("values", [])
            return tuple(float(v.get("doubleValue", 0.0)) for v in values)
    return ()


def _arrays(items: list[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {item["key"]: _strings(item) for item in items if "arrayValue" in item.get("value", {})}


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def parse_compact(line: str) -> tuple[str, WatchWindow] | None:
    """One ``drift.watches.compact`` entry: ``watch\\tstatus\\tmethod\\tsamples\\tscore\\tp_value``.

    >>> parse_compact("age\\t0\\tpsi\\t1000\\t0.012\\t")
    ('age', WatchWindow(status=0, score=0.012, method='psi', samples=1000, p_value=None, \
level=None, top_changes=(), reason=None, warning=None, critical=None, explained=()))
    >>> parse_compact("garbled") is None
    True
    """
    fields = line.split("\t")
    if len(fields) != 6:
        return None
    watch, status, method, samples, score, p_value = fields
    try:
        return watch, WatchWindow(
            int(status), _number(score), method, int(samples) if samples else None, _number(p_value)
        )
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _from_attributes(
    attributes: Mapping[str, Any], arrays: Mapping[str, tuple[str, ...]]
) -> dict[str, WatchWindow]:
    watches: dict[str, WatchWindow] = {}
    prefix = sc.WATCH_PREFIX
    for key, value in attributes.items():
        if key.startswith(prefix) and key.endswith(".status"):
            name = key[len(prefix) : -len(".status")]
            samples = attributes.get(f"{prefix}{name}.samples")
            watches[name] = WatchWindow(
                int(value),
                _float(attributes.get(f"{prefix}{name}.score")),
                str(attributes.get(f"{prefix}{name}.method", "?")),
                None if samples is None else int(samples),
                _float(attributes.get(f"{prefix}{name}.p_value")),
                top_changes=arrays.get(f"{prefix}{name}.top_changes", ()),
            )
    for line in arrays.get(sc.WATCHES_COMPACT, ()):
        parsed = parse_compact(line)
        if parsed is not None:
            watches.setdefault(*parsed)
    return watches


def _add_event(watches: dict[str, WatchWindow], event: Mapping[str, Any]) -> None:
    """Merge one ``drift.detected`` event into its watched value's window."""
    items = event.get("attributes", [])
    attributes, arrays = attributes_dict(items), _arrays(items)
    name = str(attributes.get(sc.ATTRIBUTE, "?"))
    known = watches.get(name)
    score = _float(attributes.get(sc.SCORE))
    p_value = _float(attributes.get(sc.P_VALUE))
    status = attributes.get(sc.STATUS)
    level = attributes.get(sc.LEVEL)
    watches[name] = WatchWindow(
        int(status) if status is not None else (known.status if known else 0),
        score if score is not None else (known.score if known else None),
        str(attributes.get(sc.METHOD) or (known.method if known else "?")),
        known.samples if known else None,
        p_value if p_value is not None else (known.p_value if known else None),
        None if level is None else int(level),
        arrays.get(sc.TOP_CHANGES) or (known.top_changes if known else ()),
        attributes.get(sc.REASON_TEXT),
        _float(attributes.get(sc.WARNING)),
        _float(attributes.get(sc.CRITICAL)),
        tuple(zip(arrays.get(sc.EXPLAINED_BY, ()), _shares(items), strict=False)),
    )


def process_name(resource: Mapping[str, Any]) -> str:
    """A process as shown: ``service.name``, then ``service.instance.id`` when set."""
    service = str(resource.get(sc.SERVICE_NAME, "?"))
    instance = resource.get(sc.SERVICE_INSTANCE_ID)
    return f"{service} {instance}" if instance else service


def request_spans(
    request: Mapping[str, Any],
) -> Iterator[tuple[Mapping[str, Any], str, Mapping[str, Any]]]:
    """(resource attributes, scope name, span) of every span of one export request."""
    for resource_spans in request.get("resourceSpans", []):
        resource = attributes_dict(resource_spans.get("resource", {}).get("attributes", []))
        for scope_spans in resource_spans.get("scopeSpans", []):
            scope = str(scope_spans.get("scope", {}).get("name", ""))
            for span in scope_spans.get("spans", []):
                yield resource, scope, span


def _spans(path: Path) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(service.name, service.instance.id, span) of every span in the file."""
    for request in read_otlp_json(path):
        for resource, _, span in request_spans(request):
            service = str(resource.get(sc.SERVICE_NAME, "?"))
            yield service, str(resource.get(sc.SERVICE_INSTANCE_ID) or ""), span


def read_evaluations(path: Path) -> list[EvaluationRecord]:
    """Every ``drift.evaluation`` span in an OTLP/JSON traces file, oldest first."""
    records = []
    for service, instance, span in _spans(path):
        if span.get("name") != sc.EVALUATION_SPAN:
            continue
        items = span.get("attributes", [])
        attributes = attributes_dict(items)
        watches = _from_attributes(attributes, _arrays(items))
        in_attributes = sum(
            1 for key in attributes if key.startswith(sc.WATCH_PREFIX) and key.endswith(".status")
        )
        omitted = int(attributes.get(sc.WATCHES_OMITTED, 0))
        for event in span.get("events", []):
            if event.get("name") == sc.DETECTED_EVENT:
                _add_event(watches, event)
        records.append(
            EvaluationRecord(
                service=service,
                expectation=str(attributes.get(sc.EXPECTATION, "?")),
                start_time_ns=int(span.get("startTimeUnixNano", 0)),
                status=int(attributes.get(sc.STATUS, 0)),
                partial=bool(attributes.get(sc.WINDOW_PARTIAL, False)),
                spans=int(attributes.get(sc.WINDOW_SPANS, 0)),
                watches=watches,
                omitted=omitted,
                instance=instance,
                end_time_ns=int(span.get("endTimeUnixNano", 0)),
                unread=max(0, omitted - (len(watches) - in_attributes)),
            )
        )
    records.sort(key=lambda r: (r.start_time_ns, r.process))
    return records


def count_violations(path: Path) -> dict[tuple[str, str, str, str], int]:
    """(process, expectation, watched value, rule) -> number of exported violation spans."""
    counts: dict[tuple[str, str, str, str], int] = {}
    for service, instance, span in _spans(path):
        if span.get("name") == sc.VIOLATION_SPAN:
            attributes = attributes_dict(span.get("attributes", []))
            key = (
                process_name({sc.SERVICE_NAME: service, sc.SERVICE_INSTANCE_ID: instance}),
                str(attributes.get(sc.EXPECTATION)),
                str(attributes.get(sc.ATTRIBUTE)),
                str(attributes.get(sc.RULE)),
            )
            counts[key] = counts.get(key, 0) + 1
    return counts


def processes(records: list[EvaluationRecord]) -> list[str]:
    """The distinct processes that wrote ``records``, sorted."""
    return sorted({r.process for r in records})
