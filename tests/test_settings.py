"""OTEL_DRIFT_* parsing: good values read, bad values logged once and replaced by defaults."""

from __future__ import annotations

import logging

import pytest

from otel_drift import Settings, settings_from_env
from otel_drift import environment_variables as ev
from otel_drift._internal.settings import DefaultWindow


def test_defaults_when_nothing_is_set() -> None:
    assert settings_from_env({}) == Settings()


def test_every_variable_is_read() -> None:
    settings = settings_from_env(
        {
            "OTEL_DRIFT_ENABLED": "false",
            "OTEL_DRIFT_EXPECTATIONS": " exp.yaml ",
            "OTEL_DRIFT_WINDOW": "30s",
            "OTEL_DRIFT_QUEUE_SIZE": "128",
            "OTEL_DRIFT_FLUSH_INTERVAL": "50",
            "OTEL_DRIFT_MAX_CATEGORIES": "7",
            "OTEL_DRIFT_MAX_BATCH_ROWS": "0",
            "OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND": "0",
            "OTEL_DRIFT_CONSOLE": "yes",
            "OTEL_DRIFT_FLUSH_ON_SIGTERM": "off",
            "OTEL_DRIFT_VALUE_HASH_KEY": "s3cret",
        }
    )
    assert settings == Settings(
        enabled=False,
        expectations_path="exp.yaml",
        default_window=DefaultWindow(spans=None, seconds=30.0),
        queue_size=128,
        flush_interval_s=0.05,
        max_categories=7,
        max_batch_rows=0,
        violation_spans_per_second=0.0,
        console=True,
        flush_on_sigterm=False,
        value_hash_key=b"s3cret",
    )
    assert "s3cret" not in repr(settings)  # a repr may reach a log


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_DRIFT_ENABLED", "maybe"),
        ("OTEL_DRIFT_WINDOW", "-5"),
        ("OTEL_DRIFT_WINDOW", "abc"),
        ("OTEL_DRIFT_QUEUE_SIZE", "abc"),
        ("OTEL_DRIFT_QUEUE_SIZE", "0"),
        ("OTEL_DRIFT_FLUSH_INTERVAL", "nan"),
        ("OTEL_DRIFT_MAX_CATEGORIES", "1e400"),
        ("OTEL_DRIFT_MAX_BATCH_ROWS", "-1"),
        ("OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND", "-1"),
        ("OTEL_DRIFT_CONSOLE", "2"),
        ("OTEL_DRIFT_FLUSH_ON_SIGTERM", "later"),
    ],
)
def test_bad_value_is_logged_once_and_defaulted(
    name: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = settings_from_env({name: value})
    assert settings == Settings()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert name in message and repr(value) in message and "default" in message


def test_live_learning_follows_a_window_the_user_set_as_spans() -> None:
    window = ev.OTEL_DRIFT_WINDOW
    assert settings_from_env({window: "500"}).learn_window == 500
    assert settings_from_env({window: "1000"}).learn_window == 1000  # the default, but set
    assert settings_from_env({window: "60s"}).learn_window is None  # the learner cuts by spans
    assert settings_from_env({window: "lots"}).learn_window is None
    assert settings_from_env({}).learn_window is None
