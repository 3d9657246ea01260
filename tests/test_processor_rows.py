"""``on_end`` decides on the request thread: a span matching nothing leaves nothing
behind, a matched one a row of its values (``spans/rows.py``), not itself; and the
worker feeds exactly what the public path, span by span, would have queued."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.spans import processor as processor_module
from otel_drift._internal.spans.matching import SpanMatcher
from otel_drift._internal.spans.unmatched import UNMATCHED_AFTER_SPANS
from tests.test_processor_fast_path import (
    EXPECTATIONS,
    FLASK,
    _hand_made_spans,
    _Keep,
    _sdk_spans,
)

CHECKOUT = EXPECTATIONS.split("  - name: checkout-post", maxsplit=1)[0]


def _processor(document: str, settings: Settings | None = None) -> DriftSpanProcessor:
    return DriftSpanProcessor(
        loads_expectations(document, path="<rows>.yaml"),
        settings=settings or Settings(queue_size=1 << 16, flush_interval_s=3600.0),
        emit_spans=False,
        emit_metrics=False,
    )


def _server_spans(route: str, count: int) -> list[ReadableSpan]:
    """``count`` finished Flask-shaped server spans on ``route``, as the SDK hands them over."""
    provider = TracerProvider(resource=Resource.get_empty())
    keep = _Keep()
    provider.add_span_processor(keep)
    tracer = provider.get_tracer(FLASK)
    for i in range(count):
        span = tracer.start_span(
            f"GET {route}",
            kind=SpanKind.SERVER,
            attributes={"http.route": route, "http.method": "GET", "net.host.port": 8000},
        )
        span.set_attribute("http.status_code", 500 if i % 10 == 0 else 200)
        span.end()
    provider.shutdown()
    return keep.spans


def _decided(processor: DriftSpanProcessor, spans: Sequence[ReadableSpan]) -> None:
    """Past the unmatched check (it reads the first spans whole), every key seen once."""
    for _ in range(1 + 2 * UNMATCHED_AFTER_SPANS // len(spans)):
        for span in spans:
            processor.on_end(span)
        processor.force_flush()  # the check decides, then confirms on the next pass
        if not processor._reader.unmatched.active:
            return
    raise AssertionError("the unmatched check did not decide")


def _everything_parked(processor: DriftSpanProcessor) -> list[object]:
    items: list[object] = list(processor._ended)
    for rows in processor._reader.rows:
        items += rows.buffer
    return items


def test_a_span_that_matches_nothing_leaves_nothing_behind() -> None:
    processor = _processor(CHECKOUT)
    try:
        _decided(processor, _server_spans("/checkout", 10) + _server_spans("/health", 10))
        for span in _server_spans("/health", 200):
            processor.on_end(span)
        assert _everything_parked(processor) == []
    finally:
        processor.shutdown()


def test_a_matched_span_leaves_a_row_of_its_values_not_itself() -> None:
    processor = _processor(CHECKOUT)
    try:
        _decided(processor, _server_spans("/checkout", 10))
        spans = _server_spans("/checkout", 50)
        for span in spans:
            processor.on_end(span)
        parked = _everything_parked(processor)
        assert not any(isinstance(item, ReadableSpan) for item in parked)
        rows = processor._reader.rows[0]
        assert len(parked) == len(rows.buffer) == 50 * rows.stride
        # Read back: the duration in ns and the status code, the order kept.
        taken = rows.take()
        latency, status, variant = rows.columns(taken)  # + default explain_by
        assert variant == [None] * 50
        assert latency == [span.end_time - span.start_time for span in spans]  # type: ignore[operator]
        assert status == [span.attributes["http.status_code"] for span in spans]  # type: ignore[index]
        assert rows.contexts(taken) == [span.context for span in spans]
    finally:
        processor.shutdown()


def _queued_after_decision(
    spans: Sequence[ReadableSpan], *, rows_written: bool
) -> list[tuple[object, ...]]:
    """The second time ``spans`` end, after the decision: what ``match_parked`` queues."""
    processor = _processor(EXPECTATIONS)
    try:
        _decided(processor, spans)
        processor.engine._worker.queue.clear()
        for span in spans:
            processor.on_end(span)
        assert any(rows.buffer for rows in processor._reader.rows) is rows_written
        processor._reader.match_parked()
        assert processor._reader.errors == 0
        return list(processor.engine._worker.queue)
    finally:
        processor.shutdown()


def test_rows_queue_what_the_public_path_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = [*_sdk_spans(), *_hand_made_spans()]
    fast = _queued_after_decision(spans, rows_written=True)
    monkeypatch.setattr(processor_module, "_FAST_SPAN", None)
    public = _queued_after_decision(spans, rows_written=False)
    assert len(fast) > 100
    # The same items (rows and spans parked whole are queued apart, so their order
    # may differ; rows keep theirs: test_a_matched_span_leaves_a_row_...).
    assert sorted(map(repr, fast)) == sorted(map(repr, public))


def test_full_rows_go_to_the_bounded_queue_and_are_counted() -> None:
    # Rows for 8 spans, a queue of 8, a worker that never wakes on its own.
    processor = _processor(CHECKOUT, Settings(queue_size=8, flush_interval_s=3600.0))
    try:
        processor._reader.unmatched.active = False  # as after its decision
        spans = _server_spans("/checkout", 40)
        processor.on_end(spans[0])  # parked: its key's lookups are built on the worker
        processor._reader.drain()
        processor.engine._worker.queue.clear()
        # Holding the worker's lock keeps its thread (woken by a full queue) from
        # taking anything while the test counts.
        with processor.engine._worker.lock:
            for span in spans[1:]:
                processor.on_end(span)
            rows = processor._reader.rows[0]
            assert len(rows.buffer) == 8 * rows.stride and not processor._ended
            assert len(processor.engine._worker.queue) == 8
            assert processor.engine.dropped[0] == 39 - 16
    finally:
        processor.shutdown()


def test_writers_and_the_worker_at_once_lose_no_row() -> None:
    processor = _processor(CHECKOUT, Settings(queue_size=1 << 16, flush_interval_s=0.001))
    spans = _server_spans("/checkout", 500)
    try:
        _decided(processor, spans[:10])
        before = sum(
            s.total_valid for s in processor.engine.watch_states() if s.watch.name == "latency"
        )

        def write() -> None:
            for _ in range(4):
                for span in spans:
                    processor.on_end(span)

        threads = [threading.Thread(target=write) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        processor.force_flush()
        after = sum(
            s.total_valid for s in processor.engine.watch_states() if s.watch.name == "latency"
        )
        assert after - before == 4 * 4 * len(spans)
        assert processor._reader.errors == 0 and not processor.engine.dropped
    finally:
        processor.shutdown()


def test_a_row_that_cannot_be_written_loses_only_its_span() -> None:
    processor = _processor(CHECKOUT)
    try:
        good = _server_spans("/checkout", 3)
        _decided(processor, good)
        odd = ReadableSpan(
            name=good[0].name,
            context=good[0].context,
            attributes=good[0]._attributes,  # the SDK's BoundedAttributes
            kind=SpanKind.SERVER,
            instrumentation_scope=good[0].instrumentation_scope,
            resource=Resource.get_empty(),
            status=None,  # type: ignore[arg-type]
            start_time=1,
            end_time=2,
        )
        for span in (good[0], odd, good[1]):
            processor.on_end(span)  # never raises
        rows = processor._reader.rows[0]
        assert processor._reader.errors == 1 and not processor._ended
        assert rows.contexts(rows.take()) == [good[0].context, good[1].context]
    finally:
        processor.shutdown()


def test_only_equality_tests_are_decided_on_the_request_thread() -> None:
    matcher = SpanMatcher(loads_expectations(EXPECTATIONS, path="<x>.yaml").expectations)
    checkout = matcher.candidates_for(("GET /checkout", SpanKind.SERVER, FLASK))
    assert checkout.key is None and checkout.equalities_only  # matches() runs in on_end
    # A regex's cost grows with the value it reads: such spans are parked for the worker.
    predict = matcher.candidates_for(("predict credit", SpanKind.SERVER, FLASK))
    assert not predict.equalities_only
