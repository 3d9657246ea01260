"""``on_end``'s one lookup by span name (``DriftSpanProcessor._decided``), the
candidates' shortcut for a traffic-mix expectation beside keyed ones
(``Candidates.otherwise``), the rows' writers written out per shape, and the
segments' one-value chunks: each gives what the general way gives."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.engine.segments import USER_AGENT, _Attribute
from otel_drift._internal.spans import processor as processor_module
from otel_drift._internal.spans.matching import SpanMatcher
from tests.test_processor_fast_path import FLASK, _Keep
from tests.test_processor_rows import _decided

#: The shape of a learned file: the traffic mix matches every server span, each
#: route's expectation its own; a client expectation besides.
LEARNED = """\
version: 1
expectations:
  - name: traffic
    match: {span_kind: server}
    watch:
      route: {attribute: http.route, baseline: {categories: {/checkout: 0.8, /health: 0.2}}}
      method:
        attribute: [http.request.method, http.method]
        baseline: {categories: {GET: 1.0}}
  - name: route.checkout
    match: {span_kind: server, scope: opentelemetry.instrumentation.flask,
            attributes: {http.route: /checkout}}
    watch:
      latency: {source: span.duration, baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}}
      status: {source: http.status_class, attribute: http.status_code,
               baseline: {categories: {2xx: 0.9, 5xx: 0.1}}}
  - name: client
    match: {span_kind: client}
    explain_by: [user_agent.original, server.address, feature_flag.result.variant, app.x]
    watch:
      latency: {source: span.duration, baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}}
"""


def _processor() -> DriftSpanProcessor:
    return DriftSpanProcessor(
        loads_expectations(LEARNED, path="<decisions>.yaml"),
        settings=Settings(queue_size=1 << 16, flush_interval_s=3600.0),
        emit_spans=False,
        emit_metrics=False,
    )


def _spans(scope: str = FLASK) -> list[ReadableSpan]:
    """Server spans on two routes (one with an unhashable route), client spans with
    and without a flag event, as the SDK hands them over."""
    provider = TracerProvider(resource=Resource.get_empty())
    keep = _Keep()
    provider.add_span_processor(keep)
    tracer = provider.get_tracer(scope)
    for i in range(30):
        route: object = ("/checkout",) if i % 10 == 9 else ("/checkout", "/health")[i % 2]
        span = tracer.start_span(
            f"GET {i % 3}",
            kind=SpanKind.SERVER,
            attributes={"http.route": route, "http.method": "GET"},  # type: ignore[dict-item]
        )
        span.set_attribute("http.status_code", 500 if i % 7 == 0 else 200)
        span.end()
        client = tracer.start_span("GET", kind=SpanKind.CLIENT, attributes={"server.address": "db"})
        if i % 4 == 0:
            client.add_event(
                "feature_flag.evaluation",
                {"feature_flag.key": "new", "feature_flag.result.variant": "on"},
            )
        client.end()
    provider.shutdown()
    return keep.spans


def _queued(spans: list[ReadableSpan]) -> list[tuple[object, ...]]:
    """What the spans leave for the engine the second time they end, queued one by one."""
    processor = _processor()
    try:
        _decided(processor, spans)
        processor.engine._worker.queue.clear()
        for span in spans:
            processor.on_end(span)
        if processor_module._FAST_SPAN is not None:
            assert set(processor._decided) == {"GET 0", "GET 1", "GET 2", "GET"}
        processor._reader.match_parked()
        assert processor._reader.errors == 0
        return list(processor.engine._worker.queue)
    finally:
        processor.shutdown()


def test_a_traffic_mix_beside_keyed_routes_is_decided_by_one_lookup() -> None:
    matcher = SpanMatcher(loads_expectations(LEARNED, path="<x>.yaml").expectations)
    found = matcher.candidates_for(("GET", SpanKind.SERVER, FLASK))
    assert (found.key, dict(found.direct), found.otherwise) == (
        "http.route",
        {"/checkout": (0, 1)},
        (0,),
    )
    assert found.matches({"http.route": "/checkout"}) == [0, 1]
    assert found.matches({"http.route": "/health"}) == [0]


def test_decisions_by_span_name_queue_what_the_public_path_queues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = _spans()
    fast = _queued(spans)
    monkeypatch.setattr(processor_module, "_FAST_SPAN", None)
    public = _queued(spans)
    assert len(fast) == 30 + 15 + 30  # traffic, /checkout, the client spans
    assert sorted(map(repr, fast)) == sorted(map(repr, public))
    # The flag variant read from the client spans' events (a row keeps their deque).
    variants = [values[-2] for index, _, values in fast if index == 2]  # type: ignore[index]
    assert variants.count("new:on") == 8 and variants.count(None) == 22


def test_a_span_name_of_another_scope_is_decided_again() -> None:
    processor = _processor()
    flask, django = _spans(), _spans("opentelemetry.instrumentation.django")
    try:
        _decided(processor, flask + django)
        for span in flask:
            processor.on_end(span)
        assert processor._decided["GET 0"][0].name == FLASK  # type: ignore[attr-defined]
        for rows in processor._reader.rows:
            rows.buffer.clear()
        # The same names from another scope: a decision by name alone would feed
        # route.checkout, which only Flask's spans match.
        for span in django:
            processor.on_end(span)
        written = [len(rows.buffer) // rows.stride for rows in processor._reader.rows]
    finally:
        processor.shutdown()
    assert written == [30, 0, 30]


def test_after_shutdown_no_row_is_written_and_spans_are_counted_as_dropped() -> None:
    processor = _processor()
    spans = _spans()
    _decided(processor, spans)
    for span in spans:
        processor.on_end(span)
    assert processor._decided
    processor.shutdown()
    dropped = sum(processor.engine.dropped.values())
    for span in spans:
        processor.on_end(span)
    assert all(not rows.buffer for rows in processor._reader.rows)
    assert sum(processor.engine.dropped.values()) == dropped + 30 + 15 + 30


def _state(attribute: _Attribute) -> tuple[object, ...]:
    return (
        dict(attribute.slots),
        attribute.traffic.tolist(),
        attribute.codes.tolist(),
        attribute.single,
        [counts.tolist() for counts in attribute.counts],
    )


class _General(_Attribute):
    """Codes every chunk the general way."""

    def _same(self, column: object) -> bool:
        return False


ONE_VALUE: list[list[object]] = [[None] * 5, [None] * 3, [None], ["curl/8.0"] * 4, ["x", None]]
SAME_FAMILY: list[list[object]] = [["curl/8.0"] * 4, ["curl/7.1"] * 2, [[1], [1]], [[1]]]
NOT_EQUAL: list[list[object]] = [[float("nan")] * 2, [float("nan")], ["on", "on"], ["on"]]


@pytest.mark.parametrize("name", ["feature_flag.result.variant", USER_AGENT])
@pytest.mark.parametrize("chunks", [ONE_VALUE, SAME_FAMILY, NOT_EQUAL])
def test_chunks_of_one_value_count_as_the_general_way_does(
    name: str, chunks: list[list[object]]
) -> None:
    fast, general = _Attribute(name, [3]), _General(name, [3])

    def window() -> list[np.ndarray | None]:
        return [np.array([1.0, 2.0, 3.0])]

    for chunk in chunks:
        fast.begin(chunk, window)
        general.begin(chunk, window)
        assert _state(fast) == _state(general)
