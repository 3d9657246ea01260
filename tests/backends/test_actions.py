"""Drift actions: hooks and a webhook on status changes, never in the service's way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_drift._internal.cli.traces import read_evaluations
from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.engine.watch_state import WatchEvaluation
from otel_drift._internal.signals.actions import (
    ActionDispatcher,
    DriftTransition,
    Webhook,
    configured_webhook,
    dispatcher_from_env,
)
from tests.backends.support import BIN, DEMO, free_port, http_get, traffic, wait_for
from tests.support import EXAMPLE_FILE, ROOT


def _window(previous: int, status: int, watch: str = "latency") -> WindowEvaluation:
    evaluation = WatchEvaluation(
        expectation="checkout",
        watch=watch,
        method="psi",
        samples=500,
        missing=0,
        invalid=0,
        score=2.2 if status else 0.01,
        p_value=None,
        level=status,
        status=status,
        previous_status=previous,
        warning=0.1,
        critical=0.25,
    )
    return WindowEvaluation("checkout", 1, 2, 500, (evaluation,), partial=False)


class Receiver:
    """A webhook receiver on 127.0.0.1 that can be slow (``delay_s``) before answering."""

    def __init__(self, delay_s: float) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.delay_s = delay_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                time.sleep(receiver.delay_s)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # the client timed out and left

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/drift"


@contextmanager
def receiver(delay_s: float = 0.0) -> Iterator[Receiver]:
    running = Receiver(delay_s)
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def test_hooks_get_transitions_on_their_own_thread() -> None:
    seen: list[tuple[DriftTransition, str]] = []
    dispatcher = ActionDispatcher(
        [lambda event: seen.append((event, threading.current_thread().name))]
    )
    dispatcher(_window(0, 0))  # no change: no action
    dispatcher(_window(0, 2))
    dispatcher(_window(2, 1))
    dispatcher.shutdown(5)
    assert [(e.previous_status, e.status) for e, _ in seen] == [
        ("ok", "critical"),
        ("critical", "warning"),
    ]
    assert {name for _, name in seen} == {"otel-drift-actions"}
    assert seen[0][0].worsened and not seen[1][0].worsened
    assert seen[0][0].to_json()["event"] == "drift.status_changed"


def test_a_failing_hook_is_contained() -> None:
    def broken(_event: DriftTransition) -> None:
        raise RuntimeError("boom")

    calls: list[str] = []
    dispatcher = ActionDispatcher([broken, lambda event: calls.append(event.status)])
    dispatcher(_window(0, 2))
    dispatcher.shutdown(5)
    assert calls == ["critical"] and dispatcher.failed == 1


def test_slow_webhook_never_delays_the_caller() -> None:
    with receiver(delay_s=2.0) as slow:
        dispatcher = ActionDispatcher(
            webhook=Webhook(slow.url, timeout_s=0.3, retries=1), sleep=lambda _s: None
        )
        started = time.perf_counter()
        for status in (2, 0, 2, 0):
            dispatcher(_window(2 - status, status))
        # The engine's worker only queued the events.
        assert time.perf_counter() - started < 0.05
        wait_for(lambda: dispatcher.failed == 4, 15, "4 timed-out deliveries")
        # Each event was tried twice (one retry), each try cut by the timeout.
        assert len(slow.bodies) == 8
        assert (
            slow.bodies[0]["status"] == "critical" and slow.bodies[0]["expectation"] == "checkout"
        )
        dispatcher.shutdown(1)


def test_down_webhook_retries_then_gives_up_and_queue_is_bounded() -> None:
    slept: list[float] = []
    gate = threading.Event()

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        gate.wait(5)

    url = f"http://127.0.0.1:{free_port()}/drift"  # nothing listens there
    dispatcher = ActionDispatcher(
        webhook=Webhook(url, timeout_s=0.5, retries=2), queue_size=2, sleep=sleep
    )
    for _ in range(6):
        dispatcher(_window(0, 2))
    # One event is being delivered (held in its back-off), two wait, the rest dropped.
    assert dispatcher.dropped >= 3
    gate.set()
    wait_for(lambda: dispatcher.failed == 6 - dispatcher.dropped, 15, "deliveries to give up")
    assert slept[:2] == [0.5, 1.0]  # a doubling back-off
    dispatcher.shutdown(1)


def test_configuration_from_the_environment() -> None:
    assert dispatcher_from_env({}) is None
    hook = configured_webhook(
        {
            "OTEL_DRIFT_WEBHOOK_URL": "http://127.0.0.1:9/x",
            "OTEL_DRIFT_WEBHOOK_TIMEOUT": "abc",
            "OTEL_DRIFT_WEBHOOK_RETRIES": "1",
            "OTEL_DRIFT_WEBHOOK_HEADERS": "Authorization=Bearer t",
        }
    )
    assert hook == Webhook("http://127.0.0.1:9/x", 5.0, 1, {"Authorization": "Bearer t"})
    assert configured_webhook({"OTEL_DRIFT_WEBHOOK_URL": "file:///etc/passwd"}) is None
    dispatcher = dispatcher_from_env({"OTEL_DRIFT_ACTIONS": "json:dumps, nope, no_such_module:f"})
    assert dispatcher is not None and len(dispatcher.hooks) == 1


@pytest.mark.e2e
def test_service_turns_flag_off_and_posts_webhook_while_staying_fast(tmp_path: Path) -> None:
    """The demo under opentelemetry-instrument, a webhook that hangs, the example hook."""
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"new_checkout": True}))
    port = free_port()
    out = tmp_path / "otlp"
    with receiver(delay_s=4.0) as hanging:
        env = {
            **os.environ,
            "OTEL_SERVICE_NAME": "checkout",
            "OTEL_TRACES_EXPORTER": "otlp_json_file",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_DRIFT_EXPECTATIONS": str(EXAMPLE_FILE),
            "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
            "OTEL_DRIFT_ACTIONS": "drift_actions:turn_off_flag",
            "OTEL_DRIFT_WEBHOOK_URL": hanging.url,
            "OTEL_DRIFT_WEBHOOK_TIMEOUT": "1",
            "OTEL_DRIFT_WEBHOOK_RETRIES": "1",
            "DRIFT_FLAGS_FILE": str(flags),
            "PYTHONPATH": str(ROOT / "examples" / "deploy"),
            "DEMO_PORT": str(port),
        }
        log = tmp_path / "app.log"
        with log.open("w") as stderr_file:
            app = subprocess.Popen(
                [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(DEMO / "app.py")],
                env=env,
                stderr=stderr_file,
            )
        try:
            generator = traffic()
            base = f"http://127.0.0.1:{port}"
            generator.wait_until_up(base)
            generator.run(base, 500, 1000, concurrency=16, seed=5)
            wait_for(lambda: hanging.bodies, 20, "the webhook to be called")
            # While the webhook hangs, the service answers at once.
            slowest = 0.0
            for _ in range(20):
                started = time.perf_counter()
                http_get(base + "/healthz")
                slowest = max(slowest, time.perf_counter() - started)
            # Far below the 4 s the webhook hangs (a loaded 2-core machine is slow anyway).
            assert slowest < 2.0
            wait_for(
                lambda: json.loads(flags.read_text()) == {"new_checkout": False},
                20,
                "the example hook to turn the flag off",
            )
        finally:
            app.send_signal(signal.SIGTERM)
            app.wait(timeout=60)
    critical = [b for b in hanging.bodies if b["status"] == "critical"]
    assert critical, hanging.bodies
    assert critical[0]["service_name"] == "checkout"
    assert critical[0]["previous_status"] == "ok"
    # Evaluation went on while the webhook hung: every full window was evaluated.
    records = read_evaluations(out / "traces.jsonl")
    assert len([r for r in records if not r.partial]) == 3, log.read_text()
    assert "flag new_checkout turned off" in log.read_text()
