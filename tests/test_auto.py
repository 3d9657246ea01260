"""The opentelemetry_post_instrument hook: attaches with a good file, never raises otherwise."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_drift
from otel_drift._internal import auto
from otel_drift._internal.settings import Settings
from tests.support import EXAMPLE_FILE


@pytest.fixture(autouse=True)
def _detached() -> Iterator[None]:
    auto._active = None
    yield
    if auto._active is not None:
        auto._active.shutdown()
    auto._active = None


def test_attaches_to_the_sdk_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = TracerProvider()
    monkeypatch.setattr("opentelemetry.trace.get_tracer_provider", lambda: provider)
    auto._install(Settings(expectations_path=str(EXAMPLE_FILE)))
    processor = auto.active_processor()
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
    assert auto.active_processor() is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "bad.yaml" in errors[0].getMessage()
    assert "otel-drift is disabled" in errors[0].getMessage()


def test_hook_swallows_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> Settings:
        raise RuntimeError("boom")

    monkeypatch.setattr(auto, "settings_from_env", explode)
    auto.post_instrument()  # must not raise: it would disable all auto-instrumentation
    assert auto.active_processor() is None


def test_disabled_and_unset_attach_nothing() -> None:
    auto._install(Settings(enabled=False, expectations_path=str(EXAMPLE_FILE)))
    auto._install(Settings())
    assert auto.active_processor() is None
