"""The span end-to-end benchmark runs, at tiny sizes: its in-process arms (the
drift worker really takes what each call left), and one of its whole processes
under ``opentelemetry-instrument``. Nothing here asserts a timing."""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks import span_e2e
from tests.web.servers import require


def test_in_process_arms_each_pay_for_their_own_spans() -> None:
    result = span_e2e.in_process(spans=200, rounds=2, warmup=0)
    assert set(result.cost) == {
        "sdk",
        "sdk (A/A)",
        "+ no-op processor",
        "+ otel-drift, match (2 values)",
        "+ otel-drift, no match",
    }
    assert all(math.isfinite(added.value) for added in result.added.values())
    # The worker ran in the drift arms: a matched span costs it something.
    assert result.worker_ns["+ otel-drift, match (2 values)"].median > 0


def test_a_whole_process_under_opentelemetry_instrument(tmp_path: Path) -> None:
    require("flask")
    script = tmp_path / "child.py"
    script.write_text(span_e2e._CHILD)
    arm = span_e2e.PROCESS_ARMS[-1]  # otel-drift, spans matching its expectation
    assert span_e2e._run_child(script, arm, requests=100, warmup=10) > 0
    # The requests were served, traced and exported.
    exported = "".join(path.read_text() for path in (tmp_path / "otlp").iterdir())
    assert "GET /checkout" in exported
