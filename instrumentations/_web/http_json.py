"""JSON bodies of HTTP calls -> shape attributes on the span of that call.

Shared by otel-drift's requests and httpx instrumentations (client spans) and
its Flask, ASGI and Django ones (the service's own answers, server spans).
Their wrappers run inside contrib's span while it is still recording, so they
can add to it; a processor could not.

On the span: ``drift.json.shape`` (the shape id, read by ``source:
json.shape`` watches) and, when the shape breaks an expectation's ``shape``,
``drift.json.shape.missing`` / ``.added`` / ``.type_changed`` (the paths) and
one ``drift.json.shape.mismatch`` event per expectation. Bodies that are not
read are marked ``drift.json.skipped`` (``streaming``, ``too_large``,
``invalid_json``) and counted in ``drift.json.skipped``.

Bodies are read only for what the attached processor's expectations watch
(:func:`demand`): with no processor, or none of its watches reading a body's
shape or size, the wrappers return at once and no body is touched. Once the
processor is attached (or otel-drift stays off), the wrappers of span kinds
no watch reads are uninstrumented altogether (:func:`drop_unwatched`).

Never raises: every error is logged (rate-limited) and the call goes on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_drift._internal import feed
from otel_drift._internal import semconv as sc
from otel_drift._internal.expectations.model import JSON_SHAPE_ATTRIBUTE, ExpectationsFile
from otel_drift._internal.json_shape import (
    REGISTRY,
    ExpectedShape,
    ShapeDiff,
    diff,
    fingerprint,
)
from otel_drift.environment_variables import OTEL_DRIFT_JSON_MAX_BYTES

if TYPE_CHECKING:
    from otel_drift import DriftSpanProcessor

_logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 20

#: Body sizes in bytes (semconv names). Contrib 0.66b1 puts no body sizes on
#: client or server spans, in either semconv mode; these wrappers add them when
#: they are known (Content-Length, or the bytes read).
REQUEST_BODY_SIZE = "http.request.body.size"
RESPONSE_BODY_SIZE = "http.response.body.size"

SKIP_STREAMING = "streaming"
SKIP_TOO_LARGE = "too_large"
SKIP_INVALID = "invalid_json"


@cache
def max_bytes() -> int:
    text = os.environ.get(OTEL_DRIFT_JSON_MAX_BYTES, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        value = int(text)
        if value < 0:
            raise ValueError
    except ValueError:
        _logger.warning(
            "otel-drift: %s=%r is not a whole number >= 0; using %d",
            OTEL_DRIFT_JSON_MAX_BYTES,
            text,
            DEFAULT_MAX_BYTES,
        )
        return DEFAULT_MAX_BYTES
    return value


def is_json(content_type: str | None) -> bool:
    """application/json and +json types; not JSON lines or event streams (they stream).

    >>> is_json("application/json; charset=utf-8"), is_json("application/problem+json")
    (True, True)
    >>> is_json("application/x-ndjson"), is_json(None)
    (False, False)
    """
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def is_encoded(content_encoding: str | None) -> bool:
    """A compressed body (gzip, br, ...) is not JSON text: its shape is not taken.

    >>> is_encoded("gzip"), is_encoded("identity"), is_encoded(None)
    (True, False, False)
    """
    if not content_encoding:
        return False
    return content_encoding.strip().lower() not in ("", "identity")


@dataclass(frozen=True)
class BodyDemand:
    """Which span kinds some watch reads a body's shape, or a body's size, from."""

    shapes: frozenset[SpanKind] = frozenset()
    sizes: frozenset[SpanKind] = frozenset()

    def wants(self, kind: SpanKind) -> bool:
        return kind in self.shapes or kind in self.sizes

    @staticmethod
    def of(expectations: ExpectationsFile) -> BodyDemand:
        """What ``expectations`` read: an expectation with no ``span_kind`` reads any kind.

        >>> import json
        >>> from otel_drift import loads_expectations
        >>> shape = {"source": "json.shape", "shape": {"paths": {"id": "number"}}}
        >>> upstream = {"name": "up", "match": {"span_kind": "client"}, "watch": {"s": shape}}
        >>> document = {"version": 1, "expectations": [upstream]}
        >>> BodyDemand.of(loads_expectations(json.dumps(document)))
        BodyDemand(shapes=frozenset({<SpanKind.CLIENT: 2>}), sizes=frozenset())
        """
        shapes: set[SpanKind] = set()
        sizes: set[SpanKind] = set()
        for expectation in expectations.expectations:
            kind = expectation.match.span_kind
            kinds = _BODY_KINDS if kind is None else {feed.SPAN_KINDS[kind]} & _BODY_KINDS
            for watch in expectation.watch:
                read = set(watch.source.attributes)
                if watch.shape is not None or JSON_SHAPE_ATTRIBUTE in read:
                    shapes |= kinds
                if read & {REQUEST_BODY_SIZE, RESPONSE_BODY_SIZE}:
                    sizes |= kinds
        return BodyDemand(frozenset(shapes), frozenset(sizes))


_BODY_KINDS = frozenset({SpanKind.SERVER, SpanKind.CLIENT})
_NO_DEMAND = BodyDemand()
#: (the processor it was computed for, its demand): recomputed when that changes.
_demand_cache: tuple[DriftSpanProcessor | None, BodyDemand] = (None, _NO_DEMAND)


def demand() -> BodyDemand:
    """What the attached processor's expectations read from HTTP bodies (nothing: no processor)."""
    global _demand_cache  # noqa: PLW0603 - a one-entry cache keyed by the processor
    processor = feed.active_processor()
    cached_for, found = _demand_cache
    if processor is cached_for:
        return found
    found = _NO_DEMAND if processor is None else BodyDemand.of(feed.expectations_of(processor))
    _demand_cache = (processor, found)
    return found


#: The body wrappers instrumented now (their instrumentors), and the span kind they read.
_wrappers: dict[object, SpanKind] = {}


def wrapping(instrumentor: object, kind: SpanKind) -> None:
    """Note that ``instrumentor`` (a body wrapper of ``kind`` spans) is instrumented."""
    _wrappers[instrumentor] = kind


def unwrapping(instrumentor: object) -> None:
    _wrappers.pop(instrumentor, None)


def drop_unwatched(wanted: BodyDemand) -> list[str]:
    """Uninstrument the body wrappers of span kinds that no watch reads; their names.

    A wrapper that reads nothing still costs a few µs a request (its code is
    cold by then): ``opentelemetry-instrument``'s hook removes them once it
    knows what the expectations watch.
    """
    dropped = []
    for instrumentor, kind in list(_wrappers.items()):
        if not wanted.wants(kind):
            instrumentor.uninstrument()  # type: ignore[attr-defined]
            dropped.append(type(instrumentor).__name__)
    return dropped


def _drop_on_attach(expectations: ExpectationsFile | None) -> None:
    """Uninstrument the wrappers whose bodies no watch of ``expectations`` reads
    (all of them when otel-drift stays off). Never raises."""
    try:
        dropped = drop_unwatched(
            BodyDemand() if expectations is None else BodyDemand.of(expectations)
        )
    except Exception:
        _logger.exception("otel-drift: could not remove the unused HTTP body wrappers")
        return
    if dropped:
        _logger.debug(
            "otel-drift: no watch reads what %s read from HTTP bodies; uninstrumented",
            ", ".join(dropped),
        )


feed.on_attach(_drop_on_attach)


def shapes_wanted(span: ReadableSpan) -> bool:
    """Whether some watch reads the shape of this span's JSON bodies (else do not read them)."""
    return span.kind in demand().shapes


class ErrorLog:
    """Logs the first few errors in full, then every 1000th: a bug must not flood the host."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        if self.count <= 3 or self.count % 1000 == 0:
            _logger.exception("otel-drift: error in %s (#%d); ignored", self.where, self.count)


def client_span() -> ReadableSpan | None:
    """The current span if it is a recording SDK client span (contrib's) whose
    body shapes or sizes some watch reads, else None."""
    if not demand().wants(SpanKind.CLIENT):
        return None
    span = trace.get_current_span()
    if isinstance(span, ReadableSpan) and span.is_recording() and span.kind is SpanKind.CLIENT:
        return span
    return None


def server_span() -> ReadableSpan | None:
    """The current span if it is a recording SDK server span (contrib's) whose
    body shapes or sizes some watch reads, else None."""
    if not demand().wants(SpanKind.SERVER):
        return None
    span = trace.get_current_span()
    if isinstance(span, ReadableSpan) and span.is_recording() and span.kind is SpanKind.SERVER:
        return span
    return None


@cache
def _skip_counter() -> metrics.Counter:
    meter = metrics.get_meter("otel_drift.instrumentation.http_json")
    return meter.create_counter(
        sc.JSON_SKIPPED,
        unit="{body}",
        description="JSON bodies whose shape was not taken, by reason",
    )


def set_size(span: ReadableSpan, key: str, size: int | str | None) -> None:
    """Set a body-size attribute from a length or a Content-Length value, if valid.

    Only on spans whose bodies some watch reads (their shape or their size).
    """
    if not demand().wants(span.kind):
        return
    if isinstance(size, str):
        size = int(size) if size.isdigit() and len(size) < 19 else None
    if size is not None and size >= 0:
        span.set_attribute(key, size)  # type: ignore[attr-defined]


def skip(span: trace.Span, reason: str) -> None:
    """Mark and count a body whose shape is watched but was not taken."""
    if getattr(span, "kind", None) not in demand().shapes:
        return
    span.set_attribute(sc.JSON_SKIPPED, reason)
    _skip_counter().add(1, {sc.REASON: reason})


def record_body(span: ReadableSpan, body: bytes | str) -> None:
    """Parse ``body`` and put its shape (and how it breaks expectations) on ``span``."""
    if not shapes_wanted(span) or not body.strip():
        return  # HEAD, 204, an empty 200: no document, nothing to compare
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        skip(span, SKIP_INVALID)  # type: ignore[arg-type]
        return
    record_document(span, document)


def record_document(span: ReadableSpan, document: object) -> None:
    shape = fingerprint(document)
    ident = REGISTRY.remember(shape)
    writable: trace.Span = span  # type: ignore[assignment]
    writable.set_attribute(JSON_SHAPE_ATTRIBUTE, ident)
    processor = feed.active_processor()
    if processor is None:
        return
    attributes = {**(span.attributes or {}), JSON_SHAPE_ATTRIBUTE: ident}
    scope = span.instrumentation_scope
    expectations = feed.expectations_for(
        processor, span.name, span.kind, scope.name if scope is not None else "", attributes
    )
    missing: set[str] = set()
    added: set[str] = set()
    changed: set[str] = set()
    shapes = _shape_watches(processor)
    for expectation in expectations:
        name = expectation.name
        for watch_name, expected in shapes.get(name, ()):
            found = _diff(expected, ident, shape)
            if not found:
                continue
            missing.update(found.missing)
            added.update(found.added)
            changed.update(found.changed)
            event: dict[str, AttributeValue] = {
                sc.EXPECTATION: name,
                sc.ATTRIBUTE: watch_name,
                sc.RULE: list(found.rules()),
            }
            for key, paths in (
                (sc.JSON_SHAPE_MISSING, found.missing),
                (sc.JSON_SHAPE_ADDED, found.added),
                (sc.JSON_SHAPE_CHANGED, found.changed),
            ):
                if paths:
                    event[key] = list(paths)
            writable.add_event(sc.JSON_SHAPE_MISMATCH_EVENT, event)
    for key, paths_set in (
        (sc.JSON_SHAPE_MISSING, missing),
        (sc.JSON_SHAPE_ADDED, added),
        (sc.JSON_SHAPE_CHANGED, changed),
    ):
        if paths_set:
            writable.set_attribute(key, sorted(paths_set))


_watch_cache: dict[int, Mapping[str, Sequence[tuple[str, ExpectedShape]]]] = {}
_diff_cache: dict[tuple[int, str], ShapeDiff] = {}
_MAX_DIFFS = 4096


def _shape_watches(
    processor: DriftSpanProcessor,
) -> Mapping[str, Sequence[tuple[str, ExpectedShape]]]:
    """expectation name -> its json.shape watches, computed once per processor."""
    key = id(processor)
    found = _watch_cache.get(key)
    if found is None:
        found = {
            expectation.name: [
                (watch.name, watch.shape) for watch in expectation.watch if watch.shape is not None
            ]
            for expectation in feed.expectations_of(processor).expectations
        }
        _watch_cache.clear()
        _watch_cache[key] = found
    return found


def _diff(expected: ExpectedShape, ident: str, shape: Mapping[str, frozenset[str]]) -> ShapeDiff:
    key = (id(expected), ident)
    found = _diff_cache.get(key)
    if found is None:
        found = diff(expected, shape)
        if len(_diff_cache) >= _MAX_DIFFS:
            _diff_cache.clear()
        _diff_cache[key] = found
    return found
