"""otel-drift summary reads verdicts back from exported OTLP/JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from otel_drift._internal.cli.main import main
from otel_drift._internal.exporters.otlp_json_file import OTLPJsonFileSpanExporter
from tests.support import Pipeline


def test_summary_of_an_exported_run(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.provider.add_span_processor(
        SimpleSpanProcessor(OTLPJsonFileSpanExporter(directory=tmp_path))
    )
    tracer = pipeline.provider.get_tracer("opentelemetry.instrumentation.flask")
    rng = np.random.default_rng(0)
    for i in range(600):
        span = tracer.start_span(
            "GET /checkout",
            kind=SpanKind.SERVER,
            attributes={"http.route": "/checkout", "http.status_code": 500 if i % 2 else 200},
            start_time=0,
        )
        span.end(end_time=int(rng.uniform(1, 9) * 1e6))
    pipeline.processor.shutdown()  # evaluates the last, partial window of 100
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "expectation 'checkout':" in out
    # All latencies in the baseline's first bin, half the requests failing.
    assert "window   1 (500 spans): latency=critical (psi 5.701)" in out
    assert "status=critical" in out
    # What moved, from the engine's own drift.top_changes and p-values.
    assert "latency: p=0, moved: p50 20 ms -> 5 ms; [0,10) ms: 20.0% -> 100.0%" in out
    assert "status: p=2.6e-199, moved: 500: 1.0% -> 50.0%; 200: 97.0% -> 50.0%" in out
    assert "[partial]" in out
    assert main(["summary", str(tmp_path / "missing")]) == 1
