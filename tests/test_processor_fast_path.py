"""The span reader's private fast path (the pinned SDK's ``ReadableSpan`` slots,
the candidates' shortcuts) queues exactly what the public path (public
properties, ``Candidates.matches`` alone) queues, span for span."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.spans import processor as processor_module
from otel_drift._internal.spans import reader as reader_module
from otel_drift._internal.spans.matching import KIND_SLOTS, NO_CANDIDATES, SpanMatcher
from otel_drift._internal.spans.reader import SpanReader

EXPECTATIONS = """\
version: 1
expectations:
  - name: checkout
    match: {span_kind: server, attributes: {http.route: /checkout}}
    watch:
      latency: {source: span.duration, baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}}
      status:
        attribute: [http.response.status_code, http.status_code]
        baseline: {categories: {"200": 0.9, "500": 0.1}}
  - name: checkout-post
    match: {span_kind: server, attributes: {http.route: /checkout, http.method: POST}}
    watch:
      klass:
        source: http.status_class
        attribute: http.status_code
        baseline: {categories: {2xx: 0.9, 5xx: 0.1}}
  - name: orders
    match: {span_kind: server, attributes: {http.route: /orders}}
    watch:
      method: {attribute: http.method, baseline: {categories: {GET: 0.5, POST: 0.5}}}
      outcome: {source: span.status, baseline: {categories: {UNSET: 0.9, ERROR: 0.1}}}
  - name: errors
    match: {attributes: {http.status_code: "500"}}
    watch:
      latency: {source: span.duration, baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}}
  - name: flagged
    match: {attributes: {app.flag: true}}
    watch:
      n: {attribute: app.n, constraints: {min: 0}}
  - name: one
    match: {attributes: {app.n: 1}}
    watch:
      flag: {attribute: app.flag, constraints: {type: boolean}}
  - name: clients
    match: {span_kind: client, scope: {regex: "instrumentation[.](requests|httpx)$"}}
    watch:
      host: {attribute: [server.address, net.peer.name], constraints: {required: true}}
      latency: {source: span.duration, baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}}
  - name: named
    match: {span_name: {regex: "^predict "}, attribute_regex: {ml.model.name: "^credit"}}
    watch:
      outcome: {source: span.status, baseline: {categories: {UNSET: 0.9, ERROR: 0.1}}}
  - name: internal
    match: {span_name: work, span_kind: internal}
    watch:
      size: {attribute: app.size, constraints: {min: 0}}
"""

FLASK = "opentelemetry.instrumentation.flask"
SCOPES = (FLASK, "opentelemetry.instrumentation.requests", "otel_drift.instrumentation.x", "")
NAMES = ("GET /checkout", "predict credit", "work", "GET")
ATTRIBUTE_SETS: tuple[dict[str, object], ...] = (
    {"http.route": "/checkout", "http.method": "GET", "http.status_code": 200},
    {"http.route": "/checkout", "http.method": "POST", "http.status_code": 500},
    {"http.route": "/checkout", "http.response.status_code": 404, "http.status_code": 200},
    {"http.route": "/orders", "http.method": "POST"},
    {"http.route": "/health", "http.status_code": 500},
    {"http.route": ("/checkout",), "http.status_code": "500"},
    {"app.flag": True, "app.n": 1},
    {"app.flag": 1, "app.n": True},
    {"app.n": 1.0, "server.address": "api.example.com"},
    {"net.peer.name": "db", "ml.model.name": "credit-v2", "app.size": -3},
    {"ml.model.name": "fraud", "app.size": 10**30},
    {},
)

_CONTEXT = SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(1))
_RESOURCE = Resource.get_empty()


class _Keep(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def _sdk_spans() -> list[ReadableSpan]:
    """Spans as the SDK hands them to processors, every combination once."""
    provider = TracerProvider(resource=_RESOURCE)
    keep = _Keep()
    provider.add_span_processor(keep)
    for scope in SCOPES:
        tracer = provider.get_tracer(scope)
        for name in NAMES:
            for kind in SpanKind:
                for i, attributes in enumerate(ATTRIBUTE_SETS):
                    span = tracer.start_span(name, kind=kind, attributes=attributes)  # type: ignore[arg-type]
                    if i % 3 == 0:
                        span.set_status(Status(StatusCode.ERROR))
                    span.end()
    provider.shutdown()
    return keep.spans


class _Unhashable(int):
    __hash__ = None  # type: ignore[assignment]


def _hand_made_spans() -> Iterator[ReadableSpan]:
    """What a bridge might hand over: plain dicts, None, odd kinds, missing times."""
    odd_attributes: Sequence[object] = (
        None,
        {"http.route": "/checkout", "http.status_code": 200},
        {"http.route": ["/checkout"], "http.status_code": _Unhashable(200)},
        {"http.route": "/checkout", "http.method": {"a": 1}},
        BoundedAttributes(attributes={"http.route": "/orders", "http.method": "GET"}),
    )
    for attributes in odd_attributes:
        for kind in (SpanKind.SERVER, SpanKind.INTERNAL, "server"):
            for scope in (InstrumentationScope(FLASK), None):
                for start, end in ((1_000, 3_500), (None, 5), (7, None)):
                    yield ReadableSpan(
                        name="work",
                        context=_CONTEXT,
                        attributes=attributes,  # type: ignore[arg-type]
                        kind=kind,  # type: ignore[arg-type]
                        instrumentation_scope=scope,
                        resource=_RESOURCE,
                        start_time=start,
                        end_time=end,
                        status=Status(StatusCode.OK),
                    )


def _processor(document: str = EXPECTATIONS) -> DriftSpanProcessor:
    return DriftSpanProcessor(
        loads_expectations(document, path="<fast-path>.yaml"),
        # A queue larger than the test and a worker that never wakes on its own.
        settings=Settings(queue_size=1 << 16, flush_interval_s=3600.0),
        emit_spans=False,
        emit_metrics=False,
    )


def _queued(spans: Sequence[ReadableSpan]) -> tuple[list[tuple[object, ...]], int]:
    processor = _processor()
    try:
        for span in spans:
            processor.on_end(span)
        processor._reader.match_parked()  # span by span through submit, into the queue
        return list(processor.engine._worker.queue), processor._reader.errors
    finally:
        processor.shutdown()


def test_the_pinned_sdk_takes_the_private_path() -> None:
    assert processor_module._FAST_SPAN is ReadableSpan


def test_private_and_public_paths_queue_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = [*_sdk_spans(), *_hand_made_spans()]
    assert all(type(span) is ReadableSpan for span in spans)

    def public_path_used(self: SpanReader, span: ReadableSpan) -> None:
        raise AssertionError("the private path was expected")

    with monkeypatch.context() as patch:
        patch.setattr(SpanReader, "_match_public", public_path_used)
        fast, fast_errors = _queued(spans)
    monkeypatch.setattr(processor_module, "_FAST_SPAN", None)
    public, public_errors = _queued(spans)
    assert (fast_errors, public_errors) == (0, 0)
    assert len(fast) > 100  # the cases do match
    assert fast == public


def _by_expectation(rows: Sequence[tuple[object, ...]]) -> dict[object, list[tuple[object, ...]]]:
    """Rows (index, context, values) grouped by expectation, each group in order."""
    grouped: dict[object, list[tuple[object, ...]]] = {}
    for index, *rest in rows:
        grouped.setdefault(index, []).append(tuple(rest))
    return grouped


def _fed_by_drain(
    spans: Sequence[ReadableSpan],
    monkeypatch: pytest.MonkeyPatch,
    document: str = EXPECTATIONS,
) -> tuple[list[tuple[int, object, tuple[object, ...]]], list[tuple[object, ...]], int]:
    """What the reader's ``drain`` feeds (as rows), what it queues, and its errors."""
    processor = _processor(document)
    fed: list[tuple[int, object, tuple[object, ...]]] = []

    def feed_columns(index: int, contexts: list[object], columns: list[list[object]]) -> None:
        rows = zip(*columns, strict=True)
        fed.extend((index, context, row) for context, row in zip(contexts, rows, strict=True))

    monkeypatch.setattr(processor.engine, "feed_columns", feed_columns)
    try:
        for span in spans:
            processor.on_end(span)
        processor._reader.drain()
        return fed, list(processor.engine._worker.queue), processor._reader.errors
    finally:
        processor.shutdown()


def test_the_worker_feeds_column_by_column_what_span_by_span_queues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = [*_sdk_spans(), *_hand_made_spans()]
    one_by_one, errors = _queued(spans)
    fed, queued, drain_errors = _fed_by_drain(spans, monkeypatch)
    assert (errors, drain_errors, queued) == (0, 0, [])
    assert len(fed) == len(one_by_one) > 100
    # Each expectation's rows in the order their spans ended, as the queue has them.
    assert _by_expectation(fed) == _by_expectation(one_by_one)


class _FailingGet(dict[str, object]):
    """Attributes whose status codes cannot be read."""

    def get(self, key: str, default: object = None) -> object:
        if key.endswith("status_code"):
            raise RuntimeError("unreadable")
        return super().get(key, default)


def test_a_span_whose_values_cannot_be_read_loses_only_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def span(attributes: dict[str, object]) -> ReadableSpan:
        return ReadableSpan(
            name="GET /checkout",
            context=_CONTEXT,
            attributes=attributes,  # type: ignore[arg-type]
            kind=SpanKind.SERVER,
            instrumentation_scope=InstrumentationScope(FLASK),
            resource=_RESOURCE,
            start_time=1_000,
            end_time=3_000,
        )

    good = {"http.route": "/checkout", "http.status_code": 200}
    spans = [span(good), span(_FailingGet(good)), span(good)]
    checkout_only = EXPECTATIONS.split("  - name: checkout-post", maxsplit=1)[0]
    fed, queued, errors = _fed_by_drain(spans, monkeypatch, checkout_only)
    # Its values could not be read: that span alone is lost, the others are fed.
    # After the watched values, the default explain_by's (the flag variant).
    assert fed == [(0, _CONTEXT, (2_000, 200, None)), (0, _CONTEXT, (2_000, 200, None))]
    assert (errors, queued) == (1, [])


def test_spans_of_other_classes_take_the_public_path() -> None:
    provider = TracerProvider(resource=_RESOURCE)
    span = provider.get_tracer(FLASK).start_span(
        "GET /checkout", kind=SpanKind.SERVER, attributes={"http.route": "/checkout"}
    )
    span.end()
    # The Span the tracer returned (a subclass) rather than the snapshot the SDK hands over.
    assert isinstance(span, ReadableSpan) and type(span) is not ReadableSpan
    assert span.end_time is not None and span.start_time is not None
    queued, errors = _queued([span])
    assert errors == 0
    duration = span.end_time - span.start_time
    assert queued == [(0, span.context, (duration, None, None))]  # + default explain_by


def test_a_changed_span_layout_turns_the_private_path_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert reader_module.private_layout_holds()

    class Renamed(ReadableSpan):
        @property
        def name(self) -> str:
            return "other"

    monkeypatch.setattr(reader_module, "ReadableSpan", Renamed)
    assert not reader_module.private_layout_holds()


def test_candidates_are_cached_once_per_name_kind_and_scope() -> None:
    matcher = SpanMatcher(loads_expectations(EXPECTATIONS, path="<x>.yaml").expectations)
    candidates = matcher.candidates_for(("GET /checkout", SpanKind.SERVER, FLASK))
    assert candidates.key is None  # several keyed attributes: Candidates.matches decides
    assert matcher.candidates_for(("GET /checkout", SpanKind.SERVER, FLASK)) is candidates
    slots = matcher.index[FLASK]["GET /checkout"]
    assert len(slots) == KIND_SLOTS and slots[SpanKind.SERVER.value] is candidates
    own = ("x", SpanKind.SERVER, "otel_drift.instrumentation.x")
    assert matcher.candidates_for(own) is NO_CANDIDATES
    # Not a SpanKind: found (matching kind-less expectations only), never indexed.
    odd = matcher.candidates_for(("work", "server", FLASK))  # type: ignore[arg-type]
    assert odd is not NO_CANDIDATES and "work" not in matcher.index[FLASK]
    assert len(matcher.candidates) == 3


def test_one_attribute_alone_decides_where_it_can() -> None:
    document = EXPECTATIONS.split("  - name: checkout-post", maxsplit=1)[0]
    matcher = SpanMatcher(loads_expectations(document, path="<x>.yaml").expectations)
    found = matcher.candidates_for(("GET /checkout", SpanKind.SERVER, FLASK))
    assert (found.key, dict(found.direct), found.always) == (
        "http.route",
        {"/checkout": (0,)},
        None,
    )
    assert matcher.candidates_for(("GET /checkout", SpanKind.CLIENT, FLASK)) is NO_CANDIDATES
    # An integer written as a string, or a residual condition: no shortcut.
    for extra in ('{http.status_code: "500"}', "{http.route: /a, http.method: GET}"):
        text = f"{document}  - name: more\n    match: {{attributes: {extra}}}\n" + (
            "    watch: {v: {attribute: x, constraints: {min: 0}}}\n"
        )
        other = SpanMatcher(loads_expectations(text, path="<x>.yaml").expectations)
        assert other.candidates_for(("GET /checkout", SpanKind.INTERNAL, FLASK)).key is None
    everything = SpanMatcher(
        loads_expectations(
            "version: 1\nexpectations:\n  - name: all\n    match: {}\n"
            "    watch: {v: {attribute: x, constraints: {min: 0}}}\n",
            path="<x>.yaml",
        ).expectations
    )
    assert everything.candidates_for(("x", SpanKind.SERVER, FLASK)).always == (0,)


def test_spans_of_a_kind_no_expectation_matches_are_not_parked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server_only = EXPECTATIONS.split("  - name: errors", maxsplit=1)[0]
    matcher = SpanMatcher(loads_expectations(server_only, path="<x>.yaml").expectations)
    assert [kind for kind in SpanKind if matcher.kinds[kind.value]] == [SpanKind.SERVER]
    processor = _processor(server_only)
    spans = _sdk_spans()
    assert any(span.kind is not SpanKind.SERVER for span in spans)
    try:
        for span in spans:
            processor.on_end(span)
        parked = list(processor._ended)
        assert parked and all(span.kind is SpanKind.SERVER for span in parked)
        assert len(parked) == sum(span.kind is SpanKind.SERVER for span in spans)
        processor._reader.match_parked()
        fast = list(processor.engine._worker.queue)
    finally:
        processor.shutdown()
    # The public path parks every span and leaves the kind to the matcher: the same queue.
    monkeypatch.setattr(processor_module, "_FAST_SPAN", None)
    public = _processor(server_only)
    try:
        for span in spans:
            public.on_end(span)
        assert len(public._ended) == len(spans)
        public._reader.match_parked()
        assert fast and list(public.engine._worker.queue) == fast
    finally:
        public.shutdown()
