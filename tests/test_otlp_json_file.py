"""OTLP/JSON file exporters, driven by the real SDK and by ``opentelemetry-instrument``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from otel_drift._internal.exporters.otlp_json_file import (
    DEFAULT_DIRECTORY,
    OTLPJsonFileMetricExporter,
    OTLPJsonFileSpanExporter,
    read_otlp_json,
)
from otel_drift.environment_variables import OTEL_DRIFT_OTLP_JSON_DIR

_LOGGER_NAME = "otel_drift._internal.exporters.otlp_json_file"
_NO_AUTO_EXPORT = 3_600_000  # ms: the periodic reader exports only when the test flushes


def _spans(path: Path) -> list[dict[str, Any]]:
    return [
        span
        for request in read_otlp_json(path)
        for resource_spans in request["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def _metrics(path: Path, line: int) -> list[dict[str, Any]]:
    """Every metric of one line (one collection) of a metrics file."""
    request = list(read_otlp_json(path))[line]
    return [
        metric
        for resource_metrics in request["resourceMetrics"]
        for scope_metrics in resource_metrics["scopeMetrics"]
        for metric in scope_metrics["metrics"]
    ]


def _attributes(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {entry["key"]: entry["value"] for entry in entries}


def _ended_span(name: str = "s") -> ReadableSpan:
    span = TracerProvider().get_tracer("t").start_span(name)
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def test_spans_are_written_as_otlp_json(tmp_path: Path) -> None:
    exporter = OTLPJsonFileSpanExporter(directory=tmp_path)
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test.scope", "1.2")
    linked = _ended_span("linked").context

    attributes: Attributes = {"retries": 3, "ratio": 0.5, "ok": True, "tags": ["a", "b"]}
    with (
        tracer.start_as_current_span("parent", attributes=attributes) as parent,
        tracer.start_as_current_span("child", kind=SpanKind.SERVER, links=[Link(linked)]) as child,
    ):
        child.add_event("cache.miss", {"key": "user:1"})
        child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()

    assert exporter.path == tmp_path / "traces.jsonl"
    lines = list(read_otlp_json(exporter.path))
    assert len(lines) == 2  # SimpleSpanProcessor: one export call, so one line, per span
    first = lines[0]["resourceSpans"][0]
    assert _attributes(first["resource"]["attributes"])["service.name"] == {
        "stringValue": "checkout"
    }
    assert first["scopeSpans"][0]["scope"] == {"name": "test.scope", "version": "1.2"}

    spans = {span["name"]: span for span in _spans(exporter.path)}
    assert set(spans) == {"parent", "child"}
    trace_id = format(parent.get_span_context().trace_id, "032x")
    parent_json, child_json = spans["parent"], spans["child"]
    assert parent_json["traceId"] == child_json["traceId"] == trace_id
    assert parent_json["spanId"] == format(parent.get_span_context().span_id, "016x")
    assert child_json["spanId"] == format(child.get_span_context().span_id, "016x")
    assert child_json["parentSpanId"] == parent_json["spanId"]
    assert "parentSpanId" not in parent_json

    assert _attributes(parent_json["attributes"]) == {
        "retries": {"intValue": "3"},  # int64 as a string
        "ratio": {"doubleValue": 0.5},
        "ok": {"boolValue": True},
        "tags": {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}},
    }
    assert parent_json["kind"] == 1  # enums as integers: SPAN_KIND_INTERNAL
    assert child_json["kind"] == 2  # SPAN_KIND_SERVER
    assert isinstance(child_json["startTimeUnixNano"], str)
    assert int(child_json["endTimeUnixNano"]) >= int(child_json["startTimeUnixNano"])
    assert child_json["status"] == {"code": 2, "message": "boom"}  # STATUS_CODE_ERROR
    [event] = child_json["events"]
    assert event["name"] == "cache.miss"
    assert _attributes(event["attributes"]) == {"key": {"stringValue": "user:1"}}
    [link] = child_json["links"]
    assert link["traceId"] == format(linked.trace_id, "032x")
    assert link["spanId"] == format(linked.span_id, "016x")


def test_metrics_are_written_as_otlp_json(tmp_path: Path) -> None:
    exporter = OTLPJsonFileMetricExporter(directory=tmp_path)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=_NO_AUTO_EXPORT)
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "checkout"})
    )
    meter = provider.get_meter("test.meter")

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(7.5, {"pool": "db"})

    counter = meter.create_counter("requests", unit="1")
    meter.create_observable_gauge("pool.usage", callbacks=[observe])
    histogram = meter.create_histogram("latency", unit="ms")
    counter.add(2, {"route": "/a"})
    counter.add(3, {"route": "/a"})
    # Recorded in a sampled span, so the histogram keeps exemplars that carry its ids.
    with TracerProvider().get_tracer("t").start_as_current_span("request") as span:
        for value in (1.0, 10.0, 100.0):
            histogram.record(value)
    assert provider.force_flush()
    # Read before shutdown, whose final collection appends a line without exemplars:
    # a reservoir only holds the measurements of one collection interval.
    [line] = read_otlp_json(exporter.path)
    provider.shutdown()

    assert exporter.path == tmp_path / "metrics.jsonl"
    assert [scope["scope"]["name"] for scope in line["resourceMetrics"][0]["scopeMetrics"]] == [
        "test.meter"
    ]
    metrics = {metric["name"]: metric for metric in _metrics(exporter.path, 0)}
    assert set(metrics) == {"requests", "pool.usage", "latency"}

    requests = metrics["requests"]
    assert requests["unit"] == "1"
    assert requests["sum"]["isMonotonic"] is True
    assert requests["sum"]["aggregationTemporality"] == 2  # cumulative by default
    [point] = requests["sum"]["dataPoints"]
    assert point["asInt"] == "5"
    assert _attributes(point["attributes"]) == {"route": {"stringValue": "/a"}}

    [gauge_point] = metrics["pool.usage"]["gauge"]["dataPoints"]
    assert gauge_point["asDouble"] == 7.5

    latency = metrics["latency"]["histogram"]
    assert latency["aggregationTemporality"] == 2
    [histogram_point] = latency["dataPoints"]
    assert histogram_point["count"] == "3"
    assert histogram_point["sum"] == 111.0
    assert (histogram_point["min"], histogram_point["max"]) == (1.0, 100.0)
    assert sum(int(count) for count in histogram_point["bucketCounts"]) == 3
    exemplars = histogram_point["exemplars"]
    assert exemplars
    context = span.get_span_context()
    for exemplar in exemplars:
        assert exemplar["traceId"] == format(context.trace_id, "032x")
        assert exemplar["spanId"] == format(context.span_id, "016x")


def test_preferred_temporality_is_passed_to_the_reader(tmp_path: Path) -> None:
    exporter = OTLPJsonFileMetricExporter(
        directory=tmp_path, preferred_temporality={Counter: AggregationTemporality.DELTA}
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=_NO_AUTO_EXPORT)
    provider = MeterProvider(metric_readers=[reader])
    counter = provider.get_meter("m").create_counter("c")
    counter.add(5)
    provider.force_flush()
    counter.add(2)
    provider.force_flush()
    provider.shutdown()

    [metric] = _metrics(exporter.path, 1)  # the second flush
    assert metric["sum"]["aggregationTemporality"] == 1  # delta
    assert metric["sum"]["dataPoints"][0]["asInt"] == "2"


def test_directory_comes_from_argument_then_env_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(OTEL_DRIFT_OTLP_JSON_DIR, raising=False)
    assert OTLPJsonFileSpanExporter().path == tmp_path / DEFAULT_DIRECTORY / "traces.jsonl"

    monkeypatch.setenv(OTEL_DRIFT_OTLP_JSON_DIR, "from-env")
    assert OTLPJsonFileMetricExporter().path == tmp_path / "from-env" / "metrics.jsonl"
    explicit = tmp_path / "explicit"
    assert OTLPJsonFileSpanExporter(directory=explicit).path == explicit / "traces.jsonl"


def test_missing_folders_are_created(tmp_path: Path) -> None:
    exporter = OTLPJsonFileSpanExporter(directory=tmp_path / "a" / "b")
    assert exporter.export([_ended_span()]) is SpanExportResult.SUCCESS
    assert [span["name"] for span in _spans(exporter.path)] == ["s"]


def test_unwritable_directory_fails_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    spans = OTLPJsonFileSpanExporter(directory=blocker / "sub")
    metrics = OTLPJsonFileMetricExporter(directory=blocker / "sub")
    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=_NO_AUTO_EXPORT)
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("m").create_counter("c").add(1)

    with caplog.at_level(logging.WARNING, logger=_LOGGER_NAME):
        for _ in range(3):
            assert spans.export([_ended_span()]) is SpanExportResult.FAILURE
        # The reader drops the result, so call the exporter the way the reader does.
        provider.force_flush()
        provider.force_flush()
    provider.shutdown()

    warnings = [record for record in caplog.records if record.name == _LOGGER_NAME]
    assert len(warnings) == 2  # one per exporter
    assert all(str(blocker / "sub") in record.getMessage() for record in warnings)


def test_metric_export_results(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("m").create_counter("c").add(1)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    good = OTLPJsonFileMetricExporter(directory=tmp_path)
    assert good.export(data) is MetricExportResult.SUCCESS
    assert [metric["name"] for metric in _metrics(good.path, 0)] == ["c"]
    assert good.force_flush()
    good.shutdown()
    assert good.export(data) is MetricExportResult.FAILURE
    assert OTLPJsonFileMetricExporter(directory=blocker).export(data) is (
        MetricExportResult.FAILURE
    )


def test_export_after_shutdown_fails(tmp_path: Path) -> None:
    exporter = OTLPJsonFileSpanExporter(directory=tmp_path)
    assert exporter.force_flush()
    exporter.shutdown()
    assert exporter.export([_ended_span()]) is SpanExportResult.FAILURE
    assert not exporter.path.exists()


def test_concurrent_exports_keep_lines_whole(tmp_path: Path) -> None:
    exporters = [OTLPJsonFileSpanExporter(directory=tmp_path) for _ in range(2)]
    batch = [_ended_span(f"span-{index}-" + "x" * 2000) for index in range(20)]

    def export_many(exporter: OTLPJsonFileSpanExporter) -> None:
        for _ in range(25):
            assert exporter.export(batch) is SpanExportResult.SUCCESS

    threads = [threading.Thread(target=export_many, args=(e,)) for e in exporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(list(read_otlp_json(exporters[0].path))) == 50
    assert len(_spans(exporters[0].path)) == 50 * 20


def test_reader_skips_malformed_lines_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_bytes(b'{"a": 1}\n\nnot json\n[1, 2]\n\xff\xfe\n{"b": 2}\n{"cut": ')
    with caplog.at_level(logging.WARNING, logger=_LOGGER_NAME):
        documents = list(read_otlp_json(path))
    assert documents == [{"a": 1}, {"b": 2}]
    [warning] = [record for record in caplog.records if record.name == _LOGGER_NAME]
    assert "skipped 4 malformed line(s)" in warning.getMessage()
    assert "first: line 3" in warning.getMessage()


def test_opentelemetry_instrument_selects_the_exporter(tmp_path: Path) -> None:
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    if not instrument.exists():
        pytest.skip("opentelemetry-instrument is not installed next to this interpreter")
    output = tmp_path / "out"
    script = (
        "from opentelemetry import trace\n"
        "with trace.get_tracer('demo').start_as_current_span('work') as span:\n"
        "    span.set_attribute('n', 1)\n"
    )
    # Only this test's OTEL_ settings: the caller's shell must not change the outcome.
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(
        OTEL_TRACES_EXPORTER="otlp_json_file",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_DRIFT_OTLP_JSON_DIR=str(output),
        OTEL_SERVICE_NAME="x",
    )
    completed = subprocess.run(
        [str(instrument), sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr

    [request] = read_otlp_json(output / "traces.jsonl")
    [resource_spans] = request["resourceSpans"]
    resource = _attributes(resource_spans["resource"]["attributes"])
    assert resource["service.name"] == {"stringValue": "x"}
    [span] = resource_spans["scopeSpans"][0]["spans"]
    assert span["name"] == "work"
    assert len(span["spanId"]) == 16
    assert len(span["traceId"]) == 32
    assert _attributes(span["attributes"]) == {"n": {"intValue": "1"}}
