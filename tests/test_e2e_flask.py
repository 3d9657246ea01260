"""End to end: a real Flask app under opentelemetry-instrument, real HTTP on 127.0.0.1.

Contrib's Flask instrumentation makes the server spans; otel-drift, enabled
by OTEL_DRIFT_EXPECTATIONS alone, watches them with the issue's example file;
the verdicts are read back from the OTLP/JSON the app exported.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from otel_drift._internal.cli.traces import EvaluationRecord, read_evaluations
from tests.support import EXAMPLE_FILE, ROOT

DEMO = ROOT / "examples" / "demo"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def _traffic() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_traffic", DEMO / "traffic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_service(
    tmp_path: Path,
    steady: int,
    drifted: int,
    extra_env: dict[str, str] | None = None,
    instrument_flags: tuple[str, ...] = (),
) -> tuple[list[EvaluationRecord], str]:
    port = _free_port()
    out = tmp_path / "otlp"
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "checkout-test",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_METRICS_EXPORTER": "otlp_json_file",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_DRIFT_EXPECTATIONS": str(EXAMPLE_FILE),
        "OTEL_DRIFT_CONSOLE": "true",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
        "DEMO_PORT": str(port),
        **(extra_env or {}),
    }
    log = tmp_path / "app.log"
    with log.open("w") as stderr_file:
        # A file, not a pipe: a pipe nobody reads fills up and blocks the app.
        app = subprocess.Popen(
            [
                str(BIN / "opentelemetry-instrument"),
                *instrument_flags,
                str(BIN / "python"),
                str(DEMO / "app.py"),
            ],
            env=env,
            stderr=stderr_file,
        )
        try:
            traffic = _traffic()
            base = f"http://127.0.0.1:{port}"
            traffic.wait_until_up(base)
            traffic.run(base, steady, drifted, concurrency=16, seed=11)
        finally:
            app.send_signal(signal.SIGTERM)
            app.wait(timeout=60)
    return read_evaluations(out / "traces.jsonl"), log.read_text()


def _worst(records: list[EvaluationRecord], watch: str) -> int:
    return max(r.watches[watch][0] for r in records)


def test_slow_failing_checkout_reaches_critical(tmp_path: Path) -> None:
    records, stderr = run_service(tmp_path, steady=1000, drifted=1000)
    assert [r.expectation for r in records] == ["checkout"] * len(records)
    full = [r for r in records if not r.partial]
    assert len(full) >= 4, stderr
    # The steady half is ok, the drifted half critical on both watched values.
    assert full[0].status == 0, full[0]
    assert _worst(records, "latency") == 2
    assert _worst(records, "status") == 2
    assert full[-1].watches["latency"][0] == 2
    assert "checkout.latency: ok -> critical" in stderr
    assert "checkout.status: ok -> critical" in stderr


def test_control_run_reaches_neither(tmp_path: Path) -> None:
    records, stderr = run_service(tmp_path, steady=2000, drifted=0)
    full = [r for r in records if not r.partial]
    assert len(full) >= 4, stderr
    assert _worst(records, "latency") < 2
    assert _worst(records, "status") < 2
    assert "critical" not in stderr


def test_new_http_semconv_names_work_too(tmp_path: Path) -> None:
    records, _ = run_service(
        tmp_path, steady=500, drifted=500, extra_env={"OTEL_SEMCONV_STABILITY_OPT_IN": "http"}
    )
    assert _worst(records, "status") == 2
    assert _worst(records, "latency") == 2


def test_enabled_by_opentelemetry_instrument_flags(tmp_path: Path) -> None:
    # The same settings as flags: --drift_expectations, --drift_window.
    records, _ = run_service(
        tmp_path,
        steady=300,
        drifted=300,
        extra_env={"OTEL_DRIFT_EXPECTATIONS": ""},
        instrument_flags=("--drift_expectations", str(EXAMPLE_FILE), "--drift_console", "true"),
    )
    assert records, "no drift.evaluation spans: the flag did not enable otel-drift"
    assert _worst(records, "status") == 2


def test_invalid_expectations_file_leaves_the_app_and_tracing_running(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nexpectations:\n  - name: x\n    match: {}\n    watch: {}\n")
    records, stderr = run_service(
        tmp_path, steady=50, drifted=0, extra_env={"OTEL_DRIFT_EXPECTATIONS": str(bad)}
    )
    assert records == []
    assert stderr.count("otel-drift is disabled") == 1
    assert "bad.yaml" in stderr and "expectations[0].watch" in stderr
    # Contrib's Flask spans were still exported.
    assert "GET /checkout" in (tmp_path / "otlp" / "traces.jsonl").read_text()
