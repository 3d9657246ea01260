"""Helpers of the ML tests: a real SDK pipeline with a DriftSpanProcessor, and verdicts.

A test that needs a library it cannot import skips locally, and FAILS in CI
(``CI=true``), where every ML extra is installed by ``scripts/test``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_drift import DriftSpanProcessor, Settings, WindowEvaluation, loads_expectations
from tests.support import IN_CI

ML_SCOPE_PREFIX = "otel_drift.instrumentation."


def need(module: str) -> ModuleType:
    """Import ``module``; skip without it, except in CI where a missing one is a failure."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if IN_CI:
            pytest.fail(f"{module} is required in CI (pip install -e '.[test]'): {error}")
        pytest.skip(f"{module} is not installed")


@dataclass
class Drift:
    provider: TracerProvider
    processor: DriftSpanProcessor
    exporter: InMemorySpanExporter
    windows: list[WindowEvaluation]

    def model_spans(self) -> list[ReadableSpan]:
        return [
            span
            for span in self.exporter.get_finished_spans()
            if span.instrumentation_scope is not None
            and span.instrumentation_scope.name.startswith(ML_SCOPE_PREFIX)
        ]

    def flush(self) -> None:
        assert self.processor.force_flush()

    def worst(self) -> dict[str, int]:
        """Highest status each watched value reached over all closed windows."""
        found: dict[str, int] = {}
        for window in self.windows:
            for watch in window.watches:
                found[watch.watch] = max(found.get(watch.watch, 0), watch.status)
        return found

    def scored(self) -> set[str]:
        return {w.watch for window in self.windows for w in window.watches if w.sufficient}

    def shutdown(self) -> None:
        self.provider.shutdown()


def drift(expectations: str, **settings: Any) -> Drift:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    processor = DriftSpanProcessor(
        loads_expectations(expectations),
        # Every row observed unless a test sets a budget: these tests count rows and windows.
        settings=Settings(**{"flush_interval_s": 3600, "cost_budget": 0.0, **settings}),
        tracer_provider=provider,
        emit_metrics=False,
    )
    windows: list[WindowEvaluation] = []
    processor.engine.add_listener(windows.append)
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Drift(provider, processor, exporter, windows)
