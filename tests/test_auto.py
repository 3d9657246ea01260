"""The opentelemetry_post_instrument hook: attaches with a good file, never raises otherwise."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_drift
from otel_drift._internal import auto, feed
from otel_drift._internal.settings import Settings
from tests.support import EXAMPLE_FILE


@pytest.fixture(autouse=True)
def _detached() -> Iterator[None]:
    feed._active = None
    sigterm = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, sigterm)
    if feed._active is not None:
        feed._active.shutdown()
    feed._active = None


def test_attaches_to_the_sdk_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = TracerProvider()
    monkeypatch.setattr("opentelemetry.trace.get_tracer_provider", lambda: provider)
    auto._install(Settings(expectations_path=str(EXAMPLE_FILE)))
    processor = feed.active_processor()
    assert processor is not None
    assert otel_drift.get_engine() is processor.engine
    assert processor in provider._active_span_processor._span_processors


def test_invalid_file_disables_with_one_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\nexpectations: []\n")
    with caplog.at_level(logging.WARNING, logger="otel_drift"):
        auto.post_instrument()  # reads the environment: unset, so nothing happens
        auto._install(Settings(expectations_path=str(bad)))
    assert feed.active_processor() is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "bad.yaml" in errors[0].getMessage()
    assert "otel-drift is disabled" in errors[0].getMessage()


def test_hook_swallows_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> Settings:
        raise RuntimeError("boom")

    monkeypatch.setattr(auto, "settings_from_env", explode)
    auto.post_instrument()  # must not raise: it would disable all auto-instrumentation
    assert feed.active_processor() is None


def test_disabled_and_unset_attach_nothing() -> None:
    auto._install(Settings(enabled=False, expectations_path=str(EXAMPLE_FILE)))
    auto._install(Settings())
    assert feed.active_processor() is None


SIGTERMED = """
import os, signal, sys, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_drift._internal import auto
from otel_drift._internal.settings import settings_from_env

class Names(SpanExporter):
    def export(self, spans):
        with open(sys.argv[1], "a") as out:
            out.writelines(span.name + "\\n" for span in spans)
        return SpanExportResult.SUCCESS

provider = TracerProvider()
# A long delay: nothing is exported unless something flushes.
provider.add_span_processor(BatchSpanProcessor(Names(), schedule_delay_millis=600_000))
trace.set_tracer_provider(provider)
auto._install(settings_from_env())
tracer = trace.get_tracer("test")
for _ in range(3):
    with tracer.start_as_current_span(
        "GET /orders", kind=SpanKind.SERVER, attributes={"http.route": "/orders"}
    ):
        pass
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(60)
"""

ROUTES = """
version: 1
expectations:
  - name: traffic
    match: {span_kind: server}
    window: {spans: 1000}
    min_samples: 1
    watch:
      route: {attribute: http.route, baseline: {categories: {/orders: 1.0}}}
"""


@pytest.mark.parametrize("flush", ["true", "false"])
def test_sigterm_evaluates_the_last_window_flushes_and_still_dies_of_sigterm(
    tmp_path: Path, flush: str
) -> None:
    script, expectations, out = tmp_path / "app.py", tmp_path / "e.yaml", tmp_path / "names"
    script.write_text(SIGTERMED)
    expectations.write_text(ROUTES)
    done = subprocess.run(
        [sys.executable, str(script), str(out)],
        env={
            "OTEL_DRIFT_EXPECTATIONS": str(expectations),
            "OTEL_DRIFT_FLUSH_ON_SIGTERM": flush,
            "PATH": "",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGTERM, done.stderr
    names = out.read_text().splitlines() if out.exists() else []
    if flush == "true":
        assert names.count("GET /orders") == 3, done.stderr
        assert "drift.evaluation" in names  # the last (partial) window
    else:
        assert names == []  # what happened before: the default action skips atexit


def _install_from_main_thread() -> None:
    provider = TracerProvider()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("opentelemetry.trace.get_tracer_provider", lambda: provider)
        auto._install(Settings(expectations_path=str(EXAMPLE_FILE)))


def test_sigterm_handler_only_over_the_default_action() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _install_from_main_thread()
    assert callable(signal.getsignal(signal.SIGTERM))


def test_a_sigterm_handler_the_host_set_is_never_replaced() -> None:
    def host(signum: int, frame: object) -> None:
        pass

    signal.signal(signal.SIGTERM, host)
    _install_from_main_thread()
    assert signal.getsignal(signal.SIGTERM) is host
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    assert auto._flush_on_sigterm(feed._active) is False  # type: ignore[arg-type]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_no_sigterm_handler_when_off_or_off_the_main_thread() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    provider = TracerProvider()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("opentelemetry.trace.get_tracer_provider", lambda: provider)
        auto._install(Settings(expectations_path=str(EXAMPLE_FILE), flush_on_sigterm=False))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    processor = feed._active
    assert processor is not None
    installed: list[bool] = []
    thread = threading.Thread(target=lambda: installed.append(auto._flush_on_sigterm(processor)))
    thread.start()
    thread.join()
    assert installed == [False]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
