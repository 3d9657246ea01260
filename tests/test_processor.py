"""DriftSpanProcessor with the real SDK: steady spans stay ok, drifted spans go critical."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import numpy as np
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_drift import Settings
from otel_drift._internal.engine.results import Violation
from otel_drift._internal.signals.violation_spans import ViolationSpans
from tests.support import Pipeline, make_pipeline

BIN_EDGES_MS = [0, 10, 25, 50, 100, 250, 1000]
FRACTIONS = [0.20, 0.45, 0.25, 0.07, 0.02, 0.01]


def _durations_ms(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    bins = rng.choice(len(FRACTIONS), size=n, p=FRACTIONS)
    low = np.array(BIN_EDGES_MS[:-1])[bins]
    high = np.array(BIN_EDGES_MS[1:])[bins]
    return rng.uniform(low, high) * scale


def _emit(
    pipeline: Pipeline,
    durations_ms: np.ndarray,
    statuses: list[int],
    *,
    route: str = "/checkout",
    status_key: str = "http.status_code",
) -> None:
    tracer = pipeline.provider.get_tracer("opentelemetry.instrumentation.flask")
    start = 1_700_000_000_000_000_000
    for duration, status in zip(durations_ms, statuses, strict=True):
        span = tracer.start_span(
            f"GET {route}",
            kind=SpanKind.SERVER,
            attributes={"http.route": route, status_key: status},
            start_time=start,
        )
        span.end(end_time=start + int(duration * 1e6))


def _statuses(rng: np.random.Generator, n: int, p500: float) -> list[int]:
    return [int(s) for s in rng.choice([200, 404, 500], size=n, p=[0.98 - p500, 0.02, p500])]


def _evaluations(pipeline: Pipeline) -> list[ReadableSpan]:
    return [s for s in pipeline.spans.get_finished_spans() if s.name == "drift.evaluation"]


def test_steady_traffic_stays_ok(pipeline: Pipeline) -> None:
    rng = np.random.default_rng(1)
    _emit(pipeline, _durations_ms(rng, 2000), _statuses(rng, 2000, 0.01))
    assert pipeline.processor.force_flush()
    evaluations = _evaluations(pipeline)
    assert len(evaluations) == 4  # 2000 spans / windows of 500
    for span in evaluations:
        assert span.attributes is not None
        # The example's JS warning (0.05) sits at the noise floor of a 500-span
        # window of a 97/2/1 mix (H0 95th percentile ~0.05): a warning may
        # flicker, critical never.
        assert span.attributes["drift.status"] in (0, 1), span.attributes
        assert span.attributes["drift.watch.latency.status"] == 0, span.attributes
        assert span.attributes["drift.window.spans"] == 500
    assert pipeline.processor.engine.status("checkout", "latency") == 0


def test_slow_and_failing_checkout_goes_critical(pipeline: Pipeline) -> None:
    rng = np.random.default_rng(2)
    _emit(pipeline, _durations_ms(rng, 1000), _statuses(rng, 1000, 0.01))
    _emit(pipeline, _durations_ms(rng, 1000, scale=4.0), _statuses(rng, 1000, 0.2))
    assert pipeline.processor.force_flush()
    evaluations = _evaluations(pipeline)
    statuses = [s.attributes["drift.status"] for s in evaluations if s.attributes]
    assert set(statuses[:2]) <= {0, 1} and statuses[2:] == [2, 2], statuses
    last = evaluations[-1]
    assert last.attributes is not None
    assert last.attributes["drift.watch.latency.status"] == 2
    assert last.attributes["drift.watch.status.status"] == 2
    assert float(last.attributes["drift.watch.latency.score"]) > 0.25  # type: ignore[arg-type]
    assert {e.attributes["drift.attribute"] for e in last.events if e.attributes} == {
        "latency",
        "status",
    }
    assert not last.status.is_ok
    # The metrics say the same.
    status_points = pipeline.metric_points("drift.status")
    assert {(a["drift.attribute"], v) for a, v in status_points} == {("latency", 2), ("status", 2)}
    assert {a["drift.method"] for a, _ in status_points} == {"psi", "jensen_shannon"}


def test_new_semconv_status_attribute_and_non_matching_spans(pipeline: Pipeline) -> None:
    rng = np.random.default_rng(3)
    _emit(pipeline, _durations_ms(rng, 300), _statuses(rng, 300, 0.01), route="/catalog")
    _emit(
        pipeline,
        _durations_ms(rng, 600),
        _statuses(rng, 600, 0.01),
        status_key="http.response.status_code",
    )
    assert pipeline.processor.force_flush()
    observations = {
        (a["drift.attribute"], a["drift.outcome"]): v
        for a, v in pipeline.metric_points("drift.observations")
    }
    # Only the 600 /checkout spans count, and the new attribute name is read.
    assert observations[("status", "valid")] == 600
    assert observations[("latency", "valid")] == 600
    assert observations[("status", "missing")] == 0


def test_disallowed_status_is_a_violation_inside_its_trace(pipeline: Pipeline) -> None:
    tracer = pipeline.provider.get_tracer("opentelemetry.instrumentation.flask")
    with tracer.start_as_current_span(
        "GET /checkout",
        kind=SpanKind.SERVER,
        attributes={"http.route": "/checkout", "http.status_code": 503},
    ) as offending:
        pass
    assert pipeline.processor.force_flush()
    violations = [s for s in pipeline.spans.get_finished_spans() if s.name == "drift.violation"]
    assert len(violations) == 1
    violation = violations[0]
    assert violation.context is not None and violation.parent is not None
    assert violation.context.trace_id == offending.get_span_context().trace_id
    assert violation.parent.span_id == offending.get_span_context().span_id
    assert violation.attributes is not None
    assert violation.attributes["drift.rule"] == "allowed"
    # A number leaves the process as itself (it is no secret, and says what broke).
    assert violation.attributes["drift.value"] == 503
    counts = {
        (a["drift.attribute"], a["drift.rule"]): v
        for a, v in pipeline.metric_points("drift.violations")
    }
    assert counts == {("status", "allowed"): 1}


def test_violation_spans_are_rate_limited_but_all_counted(example_text: str) -> None:
    pipeline = make_pipeline(
        example_text, Settings(flush_interval_s=0.05, violation_spans_per_second=5)
    )
    try:
        rng = np.random.default_rng(4)
        _emit(pipeline, _durations_ms(rng, 300), [503] * 300)
        assert pipeline.processor.force_flush()
        violations = [s for s in pipeline.spans.get_finished_spans() if s.name == "drift.violation"]
        assert 1 <= len(violations) <= 6
        counts = {a["drift.rule"]: v for a, v in pipeline.metric_points("drift.violations")}
        assert counts == {"allowed": 300}
    finally:
        pipeline.provider.shutdown()


def test_a_rule_broken_on_every_call_leaves_other_rules_their_violation_spans() -> None:
    # One pass carries an upstream's broken field on every call first, then the
    # service's own answer that broke the same way: each rule gets its examples.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    listener = ViolationSpans(5, provider)
    noisy = [Violation("upstream", "shape", "shape.type", "id", None)] * 40
    quiet = [Violation("response", "shape", "shape.type", "user", None)] * 3
    listener(noisy + quiet)
    spans = exporter.get_finished_spans()
    per_expectation = Counter(str((s.attributes or {})["drift.expectation"]) for s in spans)
    assert per_expectation == {"upstream": 5, "response": 3}
    assert listener.suppressed == 35


def test_no_worker_thread_until_the_first_span(example_text: str) -> None:
    # A process that never ends a span (a pre-fork master, multiprocessing's
    # resource tracker) must not run a thread that wakes 5 times a second.
    pipeline = make_pipeline(example_text, Settings(flush_interval_s=0.05))
    try:
        assert pipeline.processor.engine._worker.thread is None
        _emit(pipeline, np.array([12.0]), [200])
        worker = pipeline.processor.engine._worker.thread
        assert worker is not None and worker.is_alive()
        assert worker.name == "otel-drift-worker"
        assert pipeline.processor.force_flush()
    finally:
        pipeline.provider.shutdown()
    assert not worker.is_alive()


def test_full_queue_drops_and_counts_without_blocking(example_text: str) -> None:
    # A worker that never wakes on its own, and a queue of 10.
    pipeline = make_pipeline(example_text, Settings(queue_size=10, flush_interval_s=3600))
    try:
        rng = np.random.default_rng(5)
        _emit(pipeline, _durations_ms(rng, 100), _statuses(rng, 100, 0.01))
        assert pipeline.processor.force_flush()
        dropped = dict(
            (a["drift.expectation"], v) for a, v in pipeline.metric_points("drift.dropped")
        )
        observations = {
            (a["drift.attribute"], a["drift.outcome"]): v
            for a, v in pipeline.metric_points("drift.observations")
        }
        # The worker may wake once at half capacity; either way every span is
        # either dropped or observed, and the queue never held more than 10.
        assert dropped["checkout"] >= 80
        assert dropped["checkout"] + observations[("latency", "valid")] == 100
    finally:
        pipeline.provider.shutdown()


def test_bin_counts_and_baseline_fractions_are_exported(pipeline: Pipeline) -> None:
    rng = np.random.default_rng(6)
    durations = _durations_ms(rng, 250)
    durations[:5] = 5000.0  # overflow
    _emit(pipeline, durations, _statuses(rng, 250, 0.01))
    assert pipeline.processor.force_flush()
    bins = {
        a["drift.bin"]: v
        for a, v in pipeline.metric_points("drift.bin.count")
        if a["drift.attribute"] == "latency"
    }
    assert sum(bins.values()) == 250
    assert bins["overflow"] == 5
    assert bins["underflow"] == 0
    expected_low = int(np.sum(durations < 10))
    assert bins["[0,10)"] == expected_low
    fractions = {
        a["drift.bin"]: v
        for a, v in pipeline.metric_points("drift.baseline.fraction")
        if a["drift.attribute"] == "status"
    }
    assert fractions == {"200": 0.97, "404": 0.02, "500": 0.01, "__other__": 0.0}


def test_on_end_never_raises_on_hostile_values(pipeline: Pipeline) -> None:
    tracer = pipeline.provider.get_tracer("opentelemetry.instrumentation.flask")
    hostile: list[object] = [
        float("nan"),
        True,
        "x" * 10_000_000,
        b"\xff",
        ("a", "b"),
        "200",
        -1,
    ]
    for value in hostile:
        span = tracer.start_span(
            "GET /checkout",
            kind=SpanKind.SERVER,
            attributes={"http.route": "/checkout", "http.status_code": value},  # type: ignore[dict-item]
        )
        span.end()
    assert pipeline.processor.force_flush()
    observations = {
        a["drift.outcome"]: v
        for a, v in pipeline.metric_points("drift.observations")
        if a["drift.attribute"] == "status"
    }
    assert sum(observations.values()) == len(hostile)


def test_flush_keeps_a_too_small_window_open_and_shutdown_closes_it(pipeline: Pipeline) -> None:
    rng = np.random.default_rng(7)
    _emit(pipeline, _durations_ms(rng, 150), _statuses(rng, 150, 0.01))
    # 150 < min_samples (200): a flush after every request must not judge it.
    assert pipeline.processor.force_flush()
    assert _evaluations(pipeline) == []
    _emit(pipeline, _durations_ms(rng, 100), _statuses(rng, 100, 0.01))
    assert pipeline.processor.force_flush()
    (first,) = _evaluations(pipeline)
    assert first.attributes is not None
    assert first.attributes["drift.window.spans"] == 250
    assert first.attributes["drift.window.partial"] is True
    _emit(pipeline, _durations_ms(rng, 10), _statuses(rng, 10, 0.01))
    pipeline.processor.shutdown()
    last = _evaluations(pipeline)[-1]
    assert last.attributes is not None
    assert last.attributes["drift.window.spans"] == 10
    assert "drift.watch.latency.score" not in last.attributes  # too few values to judge


def test_many_watched_values_stay_within_the_span_attribute_limit() -> None:
    watches = "\n".join(
        f"      f{i}:\n        attribute: f{i}\n"
        "        baseline: {bins: [0, 1, 2], fractions: [0.5, 0.5]}"
        for i in range(60)
    )
    text = (
        "version: 1\nexpectations:\n  - name: model\n    match: {span_name: predict}\n"
        f"    window: {{spans: 200}}\n    min_samples: 100\n    watch:\n{watches}\n"
    )
    pipeline = make_pipeline(text)
    try:
        tracer = pipeline.provider.get_tracer("app")
        for i in range(200):
            attributes = {f"f{j}": (i % 20) / 10 for j in range(60)}
            attributes["f7"] = 5.0  # one feature drifts: always above the bins
            tracer.start_span("predict", attributes=attributes).end()
        assert pipeline.processor.force_flush()
        (evaluation,) = _evaluations(pipeline)
        found = evaluation.attributes
        assert found is not None
        assert len(found) <= 120
        assert found["drift.watches"] == 60
        assert found["drift.watches.omitted"] not in (0, None)
        # The drifting value is never the one left out.
        assert found["drift.watch.f7.status"] == 2
        assert [e.attributes["drift.attribute"] for e in evaluation.events if e.attributes] == [
            "f7"
        ]
    finally:
        pipeline.provider.shutdown()


def test_string_violation_values_are_keyed_hashes() -> None:
    # The deployment's key: equal values hash alike in every process that has it,
    # and the plain SHA-256 of the value (guessable) is nowhere.
    text = """
version: 1
expectations:
  - name: plans
    match: {span_name: charge}
    watch:
      plan: {attribute: plan, constraints: {allowed: [free, pro]}}
"""
    keyed = make_pipeline(text, Settings(flush_interval_s=0.05, value_hash_key=b"deploy-key"))
    tracer = keyed.provider.get_tracer("app")
    with tracer.start_as_current_span("charge", attributes={"plan": "enterprise"}):
        pass
    assert keyed.processor.force_flush()
    (violation,) = [s for s in keyed.spans.get_finished_spans() if s.name == "drift.violation"]
    assert violation.attributes is not None
    shown = violation.attributes["drift.value"]
    expected = hmac.new(b"deploy-key", b"enterprise", hashlib.sha256).hexdigest()[:16]
    assert shown == f"hmac-sha256:{expected}"
    assert hashlib.sha256(b"enterprise").hexdigest()[:16] not in str(shown)
    keyed.processor.shutdown()
