"""Fork: a child starts from zero with a working engine, even if a lock was held at fork.

Children report over a pipe and leave with ``os._exit``, so they never return
into pytest. The gunicorn test runs pre-forked workers under
``opentelemetry-instrument``; it is skipped where gunicorn is not installed,
except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind

from otel_drift import Settings
from otel_drift._internal.engine.core import DriftEngine
from tests.hardening.support import BIN, Rig, make_rig, read_jsonl
from tests.support import IN_CI

RecordFigures = Callable[[str, dict[str, object]], None]

FORK_EXPECTATIONS = """\
version: 1
expectations:
  - name: orders
    match: {span_name: order}
    window: {spans: 50}
    min_samples: 10
    watch:
      amount:
        attribute: amount
        baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}
      plan:
        attribute: plan
        baseline: {categories: {free: 0.5, pro: 0.5}}
"""


def _orders(rig: Rig, count: int) -> None:
    tracer = rig.provider.get_tracer("shop")
    for i in range(count):
        attributes = {"amount": i % 100, "plan": "free" if i % 2 else "pro"}
        tracer.start_span("order", kind=SpanKind.SERVER, attributes=attributes).end()


def _observed(rig: Rig) -> int:
    outcomes = rig.counts().observations.get(("orders", "amount"))
    return sum(outcomes.values()) if outcomes is not None else 0


def _in_child(work: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Fork; the child runs ``work`` and sends its result (or its traceback) back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            try:
                found = work()
            except BaseException:
                found = {"child_error": traceback.format_exc()}
            os.write(write_end, json.dumps(found, default=str).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    result: dict[str, object] = json.loads(b"".join(chunks))
    assert "child_error" not in result, result["child_error"]
    return result


def _worker_id(engine: DriftEngine) -> int:
    worker = engine._worker.thread
    assert worker is not None, "the parent's worker starts with its first spans"
    return worker.native_id or 0


def _child_checks(rig: Rig, parent_worker: int) -> dict[str, object]:
    engine = rig.processor.engine
    # The sink is this test's, not the engine's: it keeps the parent's spans.
    evaluations_before = rig.sink.own_by_name["drift.evaluation"]
    found: dict[str, object] = {
        "queued_at_start": len(engine._worker.queue) + len(rig.processor._ended),
        "observed_at_start": _observed(rig),
        "dropped_at_start": sum(rig.counts().dropped.values()),
        "history_at_start": len(engine.history),
        # No thread until the child has input of its own (start_worker).
        "worker_at_start": engine._worker.thread is not None,
    }
    # The worker alone (no flush) must pick up the child's spans.
    _orders(rig, 120)
    deadline = time.monotonic() + 10
    while _observed(rig) < 120 and time.monotonic() < deadline:
        time.sleep(0.02)
    found["observed_by_worker"] = _observed(rig)
    worker = engine._worker.thread
    found["new_worker"] = (
        worker is not None and worker.is_alive() and (worker.native_id != parent_worker)
    )
    started = time.perf_counter()
    found["flushed"] = rig.processor.force_flush(5_000)
    found["flush_s"] = time.perf_counter() - started
    found["observed_after_flush"] = _observed(rig)
    found["evaluations"] = rig.sink.own_by_name["drift.evaluation"] - evaluations_before
    return found


@pytest.fixture
def rig() -> Iterator[Rig]:
    # The worker only wakes on its own every 50 ms; spans ended just before the fork
    # are still queued then.
    built = make_rig(FORK_EXPECTATIONS, Settings(flush_interval_s=0.05))
    yield built
    built.close()


def test_child_starts_from_zero_and_its_worker_runs(rig: Rig, figures: RecordFigures) -> None:
    _orders(rig, 300)
    assert rig.processor.force_flush()
    assert _observed(rig) == 300
    # Park the worker so that what comes next is still queued at the fork.
    engine = rig.processor.engine
    with engine._worker.lock:
        _orders(rig, 200)
        queued = len(engine._worker.queue) + len(rig.processor._ended)
        parent_worker = _worker_id(engine)
        child = _in_child(lambda: _child_checks(rig, parent_worker))
    assert queued > 0
    # Nothing of the parent's (observed or queued) is counted in the child...
    assert child["queued_at_start"] == 0, child
    assert child["observed_at_start"] == 0, child
    assert child["dropped_at_start"] == 0, child
    assert child["history_at_start"] == 0, child
    # ...and the child's engine works: its own worker, its own windows.
    assert child["worker_at_start"] is False, child
    assert child["new_worker"] is True, child
    assert child["observed_by_worker"] == 120, child
    assert child["flushed"] is True and child["observed_after_flush"] == 120, child
    assert child["evaluations"] == 3, child  # 120 spans: two windows of 50, then the rest
    # The parent still counts its own, once.
    assert rig.processor.force_flush()
    assert _observed(rig) == 500
    figures("fork.child", {"parent_observed": 500, "parent_queued_at_fork": queued, **child})


def test_fork_while_the_engine_lock_is_held_does_not_deadlock_the_child(
    rig: Rig, figures: RecordFigures
) -> None:
    engine = rig.processor.engine
    _orders(rig, 100)
    # Forking while the lock is held: in the child no thread exists to release it.
    lock = engine._worker.lock
    drop_lock = engine._worker._drop_lock
    lock.acquire()
    drop_lock.acquire()
    try:
        parent_worker = _worker_id(engine)
        child = _in_child(lambda: _child_checks(rig, parent_worker))
    finally:
        drop_lock.release()
        lock.release()
    assert child["flushed"] is True, child
    assert float(child["flush_s"]) < 5, child  # type: ignore[arg-type]
    assert child["observed_by_worker"] == 120, child
    assert child["observed_at_start"] == 0 and child["queued_at_start"] == 0, child
    assert rig.processor.force_flush()
    assert _observed(rig) == 100
    figures("fork.lock_held", {"child_flush_s": round(float(child["flush_s"]), 4)})  # type: ignore[arg-type]


def test_a_busy_parent_forks_many_children(rig: Rig) -> None:
    # Spans keep ending on another thread while the test forks: whatever state the
    # queue and the worker are in at each fork, every child starts clean and works.
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            _orders(rig, 10)

    _orders(rig, 10)  # the parent's worker starts with its first spans
    producer = threading.Thread(target=busy, daemon=True)
    producer.start()
    try:
        for _ in range(5):
            parent_worker = _worker_id(rig.processor.engine)
            child = _in_child(functools.partial(_child_checks, rig, parent_worker))
            assert child["observed_at_start"] == 0 and child["queued_at_start"] == 0, child
            assert child["flushed"] is True and child["observed_after_flush"] == 120, child
    finally:
        stop.set()
        producer.join(10)


# -- gunicorn: pre-forked workers under opentelemetry-instrument ----------------------------

GUNICORN_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/order")
def order() -> str:
    return "ok"
"""

GUNICORN_EXPECTATIONS = """\
version: 1
expectations:
  - name: orders
    match: {span_kind: server}
    window: {spans: 1000}
    min_samples: 1
    watch:
      latency:
        source: span.duration
        baseline: {bins: [0, 10, 100, 1000], fractions: [0.5, 0.3, 0.2]}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_prefork_workers_each_evaluate_their_own_spans(
    tmp_path: Path, figures: RecordFigures
) -> None:
    if importlib.util.find_spec("gunicorn") is None:
        message = "gunicorn is not installed (add it to the dev extra)"
        if IN_CI:
            pytest.fail(message + ": CI must run this test")
        pytest.skip(message)
    (tmp_path / "gapp.py").write_text(GUNICORN_APP)
    expectations = tmp_path / "expectations.yaml"
    expectations.write_text(GUNICORN_EXPECTATIONS)
    out = tmp_path / "otlp"
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_SERVICE_NAME": "gunicorn-app",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
        "OTEL_DRIFT_EXPECTATIONS": str(expectations),
    }
    log = tmp_path / "gunicorn.log"
    requests = 200
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [
                str(BIN / "opentelemetry-instrument"),
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "gapp:app",
            ],
            cwd=tmp_path,
            env=env,
            stderr=stderr,
        )
        try:
            url = f"http://127.0.0.1:{port}/order"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        assert response.read() == b"ok"
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)

            def client(count: int) -> None:
                for _ in range(count):
                    with urllib.request.urlopen(url, timeout=10) as response:
                        assert response.read() == b"ok"

            # Four clients at once, so that both workers get requests.
            clients = [
                threading.Thread(target=client, args=(n,)) for n in (50, 50, 50, requests - 151)
            ]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join(60)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    stderr_text = log.read_text()
    assert server.returncode == 0, stderr_text
    assert "Traceback" not in stderr_text, stderr_text
    windows: dict[str, int] = {}
    for request in read_jsonl(out / "traces.jsonl"):
        for resource_spans in request["resourceSpans"]:  # type: ignore[attr-defined]
            instance = next(
                a["value"]["stringValue"]
                for a in resource_spans["resource"]["attributes"]
                if a["key"] == "service.instance.id"
            )
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    if span["name"] != "drift.evaluation":
                        continue
                    spans = next(
                        int(a["value"]["intValue"])
                        for a in span["attributes"]
                        if a["key"] == "drift.window.spans"
                    )
                    windows[instance] = windows.get(instance, 0) + spans
    # Only the workers serve requests: every evaluation comes from a forked engine. Each
    # evaluated its own requests; none was counted twice (from the master) or lost.
    assert sum(windows.values()) == requests, (windows, stderr_text)
    figures(
        "fork.gunicorn",
        {
            "requests": requests,
            "workers_evaluating": len(windows),
            "per_worker": sorted(windows.values()),
        },
    )
