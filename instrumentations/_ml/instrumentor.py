"""The base of otel-drift's ML instrumentors (contrib-style ``BaseInstrumentor``)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from .hooks import Patcher, require
from .recorder import ModelCallRecorder


class ModelInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses name their library and wrap it in :meth:`_patch`.

    ``instrument(tracer_provider=..., drift_processor=...)``: spans go to the
    given provider (default: the global one) and values to the given
    ``DriftSpanProcessor`` (default: the one ``opentelemetry-instrument``
    attached, if any).
    """

    #: Importable name of the instrumented library (``sklearn``, ``torch``).
    module: str
    #: ``ml.framework`` of its spans.
    framework: str
    #: Instrumentation scope; otel_drift.* scopes are skipped by the processor.
    scope: str
    instruments: Collection[str]

    def __init__(self) -> None:
        # BaseInstrumentor is a singleton per class: __init__ runs on every
        # ``SklearnInstrumentor()``, and must not forget what is wrapped.
        super().__init__()
        if "patcher" not in self.__dict__:
            self.patcher = Patcher()
            self.recorder = ModelCallRecorder(self.framework, self.scope)

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def _instrument(self, **kwargs: Any) -> None:
        require(self.module)
        self.recorder = ModelCallRecorder(
            self.framework,
            self.scope,
            kwargs.get("tracer_provider"),
            kwargs.get("drift_processor"),
        )
        self._patch()

    def _uninstrument(self, **kwargs: Any) -> None:
        self.patcher.unwrap_all()

    @abstractmethod
    def _patch(self) -> None:
        """Register the library's wraps with ``self.patcher.on_import``."""
