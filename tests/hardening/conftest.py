"""Figures of the hardening suite, made visible in CI logs.

Tests call the ``figures`` fixture; each call lands in the JUnit XML (via
``record_property``), in ``hardening-figures.json`` under pytest's base temp
folder, and in a "otel-drift hardening figures" section of the terminal
summary, which CI logs show without ``-s``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.hardening.support import FIGURES, record_figures

RecordFigures = Callable[[str, dict[str, object]], None]

_REPORT_NAME = "hardening-figures.json"


@pytest.fixture
def figures(
    record_property: Callable[[str, object], None], tmp_path_factory: pytest.TempPathFactory
) -> RecordFigures:
    def record(topic: str, values: dict[str, object]) -> None:
        record_figures(topic, values)
        for name, value in values.items():
            record_property(f"{topic}.{name}", value)
        report = tmp_path_factory.getbasetemp() / _REPORT_NAME
        report.write_text(json.dumps(FIGURES, indent=2, default=str) + "\n")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("otel-drift hardening figures")
    for topic, values in FIGURES.items():
        shown = ", ".join(f"{name}={value}" for name, value in values.items())
        terminalreporter.write_line(f"{topic}: {shown}")
    base = terminalreporter.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    terminalreporter.write_line(f"(also in {base / _REPORT_NAME})")
