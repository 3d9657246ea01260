"""What each ``source:`` kind of a watched value means, written once.

A watched value comes from a span attribute (the first of its names that is
present), the span's duration, its status, or a value derived from those (the
HTTP status class, a JSON shape id). Three readers need that meaning: the
engine converting span rows, the span reader on the worker, and the
instrumentations that hand over one of their own spans as a row. Each asks
here instead of keeping its own table of units and labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import StatusCode

from otel_drift._internal.expectations.model import Watch
from otel_drift._internal.values import status_class

#: Nanoseconds per unit of a ``span.duration`` watch.
DURATION_DIVISORS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

#: The label a ``span.status`` watch counts for each status code.
STATUS_LABELS = {
    StatusCode.UNSET: "UNSET",
    StatusCode.OK: "OK",
    StatusCode.ERROR: "ERROR",
}


def first_present(attributes: Mapping[str, object], names: Sequence[str]) -> object:
    """The value of the first of ``names`` present (not None) in ``attributes``.

    >>> first_present({"http.status_code": 200}, ("http.response.status_code", "http.status_code"))
    200
    """
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return value
    return None


def duration_in(unit: str, duration_ns: float) -> float:
    """A span duration in nanoseconds, in the watch's ``unit``.

    >>> duration_in("ms", 12_500_000)
    12.5
    """
    return duration_ns / DURATION_DIVISORS[unit]


def span_rows(watch: Watch, raw: Sequence[object]) -> list[object]:
    """One watched value of span rows (as the span reader collects them: the
    attribute, nanoseconds, a status code) in the form the watch counts.

    >>> from types import SimpleNamespace
    >>> watch = SimpleNamespace(source=SimpleNamespace(kind="http.status_class"))
    >>> span_rows(watch, [200, 503, None])  # type: ignore[arg-type]
    ['2xx', '5xx', None]
    """
    kind = watch.source.kind
    if kind == "span.duration":
        divisor = DURATION_DIVISORS[watch.source.unit]
        return [None if v is None else v / divisor for v in raw]  # type: ignore[operator]
    if kind == "span.status":
        return [STATUS_LABELS.get(v, v) for v in raw]  # type: ignore[call-overload]
    if kind == "http.status_class":
        return [status_class(v) for v in raw]
    return list(raw)


def span_value(
    watch: Watch, attributes: Mapping[str, Any], duration_ns: int, status: StatusCode
) -> Any:
    """One span's watched value, converted: what ``span_rows`` gives for a row.
    None for the ML sources, which are not span values."""
    kind = watch.source.kind
    if kind == "span.duration":
        return duration_in(watch.source.unit, duration_ns)
    if kind == "span.status":
        return STATUS_LABELS[status]
    if kind in ("attribute", "http.status_class"):
        value = first_present(attributes, watch.source.attributes)
        return status_class(value) if kind == "http.status_class" else value
    return None
