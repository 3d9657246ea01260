"""``summary`` and ``report`` on OTLP/JSON: processes apart, every value's windows, what moved.

The traces are written by the real exporter (``tests/cli_fixtures.py``) with
the attributes and events of ``signals/evaluation_spans.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.cli.main import main
from otel_drift._internal.cli.traces import read_evaluations
from otel_drift._internal.exporters.otlp_json_file import (
    OTLPJsonFileMetricExporter,
    OTLPJsonFileSpanExporter,
)
from tests.cli_fixtures import Value, Window, write_traces
from tests.support import EXAMPLE_FILE

HELD = "held by hysteresis: this window is ok; the status clears after 2 windows below it"
NO_DATA = "no valid values: 0 missing, 1000 invalid"


def _features(status: int = 0) -> list[Value]:
    return [Value(f"f{i}", status, 0.01 * i, omitted=True) for i in (2, 3)]


def _run(tmp_path: Path) -> Path:
    write_traces(
        tmp_path,
        [
            Window(0, [Value("latency", 0, 0.02), Value("status", 0, 0.01), *_features()]),
            Window(
                1,
                [
                    Value(
                        "latency",
                        2,
                        0.4,
                        p_value=1e-12,
                        top_changes=["[50,100) ms: 7.0% -> 31.0%", "p50 12 ms -> 25 ms"],
                    ),
                    Value("status", 1, 0.12, top_changes=["500: 1.0% -> 15.2%"]),
                    Value("f1", -1, None, samples=0, reason=NO_DATA),
                    *_features(),
                ],
            ),
            Window(
                2,
                [
                    Value("latency", 2, 0.03, level=0, reason=HELD),
                    Value("status", 1, 0.15, p_value=0.003, top_changes=["500: 1.0% -> 9.0%"]),
                    Value("f1", -1, None, samples=0, reason=NO_DATA),
                    *_features(),
                ],
            ),
        ],
    )
    return tmp_path


def test_reader_sees_every_value(tmp_path: Path) -> None:
    records = read_evaluations(_run(tmp_path) / "traces.jsonl")
    assert [sorted(r.watches) for r in records][1:] == [["f1", "f2", "f3", "latency", "status"]] * 2
    last = records[-1].watches
    assert last["f3"].status == 0 and last["f3"].score == pytest.approx(0.03)
    assert last["latency"].level == 0 and last["latency"].reason == HELD
    assert records[1].watches["latency"].top_changes == (
        "[50,100) ms: 7.0% -> 31.0%",
        "p50 12 ms -> 25 ms",
    )
    assert last["f1"].status == -1 and last["f1"].reason == NO_DATA
    assert all(r.unread == 0 and r.omitted == 2 for r in records)


def test_summary_says_what_moved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(_run(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "processes" not in out  # one process: nothing to say about it
    assert (
        "window   2 (1000 spans): f1=no_data (psi n/a), f2=ok (psi 0.020), f3=ok (psi 0.030), "
        "latency=critical (psi 0.400), status=warning (psi 0.120)"
    ) in out
    assert "latency: p=1e-12, moved: [50,100) ms: 7.0% -> 31.0%; p50 12 ms -> 25 ms" in out
    assert "status: moved: 500: 1.0% -> 15.2%" in out
    assert f"f1: {NO_DATA}" in out
    assert f"latency: {HELD}" in out
    assert "status: p=0.003, moved: 500: 1.0% -> 9.0%" in out
    assert "omitted" not in out  # drift.watches.compact named them all


def test_old_span_omissions_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_traces(tmp_path, [Window(0, [Value("latency", 0, 0.02), *_features()], compact=False)])
    (record,) = read_evaluations(tmp_path / "traces.jsonl")
    assert record.unread == 2
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "latency=ok (psi 0.020), 2 values omitted by the span (ok)" in out
    report = tmp_path / "r.html"
    assert main(["report", str(tmp_path), "-o", str(report)]) == 0
    assert "1 drift.evaluation spans left out 2 watched values" in report.read_text()


def _sections(html: str) -> list[str]:
    return re.findall(r"<section id=\"([^\"]*)\">", html)


def test_report_most_severe_first_and_explained(tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    assert main(["report", str(_run(tmp_path)), "-o", str(report)]) == 0
    html = report.read_text()
    assert _sections(html) == [
        ".checkout.latency",
        ".checkout.status",
        ".checkout.f1",
        ".checkout.f2",
        ".checkout.f3",
    ]
    latency = html.split('<section id=".checkout.latency">')[1].split("</section>")[0]
    # Raised at the close of window 2 (12:02), held since by hysteresis.
    assert (
        "held by hysteresis: raised at 2025-12-05 12:02:00 UTC, this window alone is ok; "
        "clears after 2 windows below"
    ) in latency
    assert "<li>[50,100) ms: 7.0% -&gt; 31.0%</li><li>p50 12 ms -&gt; 25 ms</li>" in latency
    assert "p-value 1e-12" in latency
    # The drifted window's shares next to the baseline's, not lifetime counts.
    assert "baseline vs the window that drifted (the bins that moved most)" in latency
    assert "[50,100) ms baseline: 0.0700" in latency and "[50,100) ms live: 0.3100" in latency
    f1 = html.split('<section id=".checkout.f1">')[1].split("</section>")[0]
    assert "no_data</span>" in f1 and NO_DATA in f1 and "#757575" in f1
    # Every value's windows, including the ones only drift.watches.compact names.
    f3 = html.split('<section id=".checkout.f3">')[1].split("</section>")[0]
    assert "no scored window" not in f3 and f3.count("<circle") == 3


def test_processes_apart_or_combined(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_traces(tmp_path, [Window(0, [Value("latency", 0, 0.02)])], instance="pod-a")
    write_traces(
        tmp_path,
        [Window(0, [Value("latency", 2, 0.5, top_changes=["p50 12 ms -> 40 ms"])])],
        instance="pod-b",
    )
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 processes (service.name service.instance.id), shown apart; ")
    apart = out.split("process checkout pod-b:\n")
    assert "latency=ok (psi 0.020)" in apart[0] and "process checkout pod-a:" in apart[0]
    assert "latency=critical (psi 0.500)" in apart[1]
    assert main(["summary", str(tmp_path), "--combine"]) == 0
    out = capsys.readouterr().out
    assert "window   1 (1000 spans) [checkout pod-a]: latency=ok" in out
    assert "window   2 (1000 spans) [checkout pod-b]: latency=critical" in out
    report = tmp_path / "r.html"
    assert main(["report", str(tmp_path), "-o", str(report)]) == 0
    html = report.read_text()
    assert _sections(html) == ["checkout pod-b.checkout.latency", "checkout pod-a.checkout.latency"]
    assert "2 processes (service.instance.id), shown apart" in html
    assert main(["report", str(tmp_path), "--combine", "-o", str(report)]) == 0
    html = report.read_text()
    assert _sections(html) == [".checkout.latency"]
    assert "2 processes combined" in html and html.count("<circle") == 2


def test_report_shows_the_drifted_window_from_metrics(tmp_path: Path) -> None:
    """The real engine and both file exporters: the drifted window's own counts, not lifetime."""
    resource = Resource.create({"service.name": "checkout", "service.instance.id": "pod-a"})
    provider = TracerProvider(resource=resource)
    reader = PeriodicExportingMetricReader(
        OTLPJsonFileMetricExporter(directory=tmp_path), export_interval_millis=3_600_000
    )
    processor = DriftSpanProcessor(
        loads_expectations(EXAMPLE_FILE.read_text()),
        settings=Settings(flush_interval_s=0.05),
        tracer_provider=provider,
        meter_provider=MeterProvider(resource=resource, metric_readers=[reader]),
    )
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileSpanExporter(directory=tmp_path)))
    tracer = provider.get_tracer("opentelemetry.instrumentation.flask")
    rng = np.random.default_rng(1)
    # Window 1 (500 spans) as the baseline has it, window 2 all server errors;
    # the metrics are exported once after each window closed.
    for status in (200, 500):
        for _ in range(500):
            span = tracer.start_span(
                "GET /checkout",
                kind=SpanKind.SERVER,
                attributes={"http.route": "/checkout", "http.status_code": status},
                start_time=0,
            )
            span.end(end_time=int(rng.lognormal(np.log(15), 0.6) * 1e6))
        assert processor.force_flush()
        assert reader.force_flush()
    provider.shutdown()
    report = tmp_path / "r.html"
    assert main(["report", str(tmp_path), "-o", str(report)]) == 0
    html = report.read_text()
    status_section = html.split('<section id=".checkout.status">')[1].split("</section>")[0]
    assert "baseline vs the window that drifted (counts between the exports at" in status_section
    # The window chart counts window 2 alone; the lifetime chart both windows.
    assert re.findall(r"live \((\d+) values\)", status_section) == ["500", "1000"]
    assert "<li>500: 1.0% -&gt; 100.0%</li>" in status_section
