"""What the engine hands out: closed windows, broken constraints, and who listens.

``WindowEvaluation`` and ``Violation`` are public (``otel_drift`` re-exports
them); the signals, the actions and the tests read them. They live apart from
the worker so that a reader of findings imports only what a finding is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry.trace import SpanContext

from otel_drift._internal.engine.watch_state import WatchEvaluation, WatchState


@dataclass(frozen=True)
class WindowEvaluation:
    """One closed window of one expectation."""

    expectation: str
    start_time_ns: int
    end_time_ns: int
    spans: int
    watches: tuple[WatchEvaluation, ...]
    #: True when closed by shutdown/force_flush before the window was full.
    partial: bool

    @property
    def status(self) -> int:
        return max((w.status for w in self.watches), default=0)


@dataclass(frozen=True)
class Violation:
    """One value that broke a hard constraint, with the span it came from."""

    expectation: str
    watch: str
    rule: str
    value: object
    span_context: SpanContext | None


#: Called on the worker with every closed window.
Listener = Callable[[WindowEvaluation], None]
#: Called on the worker with the violations one batch of values held.
ViolationListener = Callable[[Sequence[Violation]], None]
#: Called on the worker with each batch of valid numeric values of a watched value.
ValueListener = Callable[[WatchState, "np.ndarray[Any, np.dtype[np.float64]]"], None]
