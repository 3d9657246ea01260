"""The exported names are the product's contract: changing them is a decision, not an accident."""

from __future__ import annotations

import importlib
import importlib.resources

import otel_drift
import otel_drift.environment_variables
import otel_drift.expectations
import otel_drift.views

PUBLIC = {
    "otel_drift": [
        "ConsoleReporter",
        "DriftEngine",
        "DriftSpanProcessor",
        "ExpectationsError",
        "FeedbackWindow",
        "LabelFeedback",
        "Settings",
        "Violation",
        "WatchEvaluation",
        "WindowEvaluation",
        "__version__",
        "get_engine",
        "load_expectations",
        "loads_expectations",
        "settings_from_env",
    ],
    "otel_drift.views": ["HTTP_DURATION_HISTOGRAMS", "drift_views", "value_histogram_name"],
    "otel_drift.actions": ["DriftTransition"],
    "otel_drift.environment_variables": [
        "OTEL_DRIFT_ACTIONS",
        "OTEL_DRIFT_BASELINE_DIR",
        "OTEL_DRIFT_CONSOLE",
        "OTEL_DRIFT_COST_BUDGET",
        "OTEL_DRIFT_ENABLED",
        "OTEL_DRIFT_EXPECTATIONS",
        "OTEL_DRIFT_FLUSH_INTERVAL",
        "OTEL_DRIFT_FLUSH_ON_SIGTERM",
        "OTEL_DRIFT_JSON_MAX_BYTES",
        "OTEL_DRIFT_LEARN",
        "OTEL_DRIFT_MAX_BATCH_ROWS",
        "OTEL_DRIFT_MAX_CATEGORIES",
        "OTEL_DRIFT_MAX_EXPECTATIONS",
        "OTEL_DRIFT_ML_SPANS",
        "OTEL_DRIFT_OTLP_JSON_DIR",
        "OTEL_DRIFT_QUEUE_SIZE",
        "OTEL_DRIFT_STRICT",
        "OTEL_DRIFT_VALUE_HASH_KEY",
        "OTEL_DRIFT_VALUE_HISTOGRAMS",
        "OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND",
        "OTEL_DRIFT_WEBHOOK_HEADERS",
        "OTEL_DRIFT_WEBHOOK_RETRIES",
        "OTEL_DRIFT_WEBHOOK_TIMEOUT",
        "OTEL_DRIFT_WEBHOOK_URL",
        "OTEL_DRIFT_WINDOW",
    ],
}


def test_exported_names_are_pinned() -> None:
    for module_name, names in PUBLIC.items():
        module = importlib.import_module(module_name)
        assert sorted(module.__all__) == sorted(names), module_name
        for name in names:
            assert hasattr(module, name), f"{module_name}.{name}"


def test_every_environment_variable_is_named_after_itself() -> None:
    # opentelemetry-instrument turns each OTEL_* constant into a --flag.
    for name in otel_drift.environment_variables.__all__:
        assert getattr(otel_drift.environment_variables, name) == name


def test_expectations_module_exports_the_loader() -> None:
    assert {"load_expectations", "loads_expectations", "ExpectationsError"} <= set(
        otel_drift.expectations.__all__
    )


def test_package_is_typed() -> None:
    assert otel_drift.__file__ is not None
    assert (importlib.resources.files("otel_drift") / "py.typed").is_file()
