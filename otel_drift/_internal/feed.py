"""The one entry point for code that hands values to the engine itself.

otel-drift's ML, LLM, feature-flag and HTTP-body instrumentations do not wait
for the span processor: their own spans (scopes ``otel_drift.instrumentation.*``)
are skipped by ``DriftSpanProcessor.on_end``, and the values they see (a whole
batch of features, a flag evaluation, a JSON body) are not on any span. So they
ask here which expectations a span like theirs matches, and hand the values
over here. This module also holds the processor ``opentelemetry-instrument``
attached (``auto.py`` attaches it) and the hooks told what it watches.

Every instrumentation imports this at start-up, also where otel-drift is off:
nothing heavy (numpy, the engine) is imported here until a call needs it, and
calls come only with a processor, whose engine has loaded them already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind, StatusCode

from otel_drift._internal.spans.matching import SPAN_KINDS

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from otel_drift._internal.expectations.model import Expectation, ExpectationsFile
    from otel_drift._internal.spans.processor import DriftSpanProcessor

__all__ = [
    "SPAN_KINDS",
    "BrokenRule",
    "active_processor",
    "attach",
    "cost_budget",
    "count_sampled_out",
    "expectations_for",
    "expectations_of",
    "observe",
    "observe_matrix",
    "observe_span",
    "on_attach",
    "on_worker_pass",
    "spans_sampled",
    "stay_off",
]

_active: DriftSpanProcessor | None = None

#: Told the attached processor's expectations (None: otel-drift stays off here).
_attach_hooks: list[Callable[[ExpectationsFile | None], None]] = []


# -- the attached processor ----------------------------------------------------------


def active_processor() -> DriftSpanProcessor | None:
    """The processor attached by ``opentelemetry-instrument``, if any."""
    return _active


def on_attach(hook: Callable[[ExpectationsFile | None], None]) -> None:
    """Call ``hook(expectations)`` when a processor is attached, ``hook(None)``
    when otel-drift stays off in this process. A hook must not raise."""
    _attach_hooks.append(hook)


def attach(processor: DriftSpanProcessor, expectations: ExpectationsFile) -> None:
    """Make ``processor`` the active one (one per process) and tell the hooks."""
    global _active  # noqa: PLW0603 - one processor per process, by design
    _active = processor
    for hook in _attach_hooks:
        hook(expectations)


def stay_off() -> None:
    """Tell the hooks that nothing is watched in this process."""
    for hook in _attach_hooks:
        hook(None)


# -- which expectations ------------------------------------------------------------------


def expectations_for(
    processor: DriftSpanProcessor,
    span_name: str,
    kind: SpanKind,
    scope: str,
    attributes: Mapping[str, object],
) -> list[Expectation]:
    """The expectations a span like this one feeds."""
    names = processor.expectations_for(span_name, kind, scope, attributes)
    engine = processor.engine
    return [engine.expectations.expectations[engine.index[name]] for name in names]


def expectations_of(processor: DriftSpanProcessor) -> ExpectationsFile:
    """All the expectations ``processor`` watches."""
    return processor.engine.expectations


# -- handing values over ----------------------------------------------------------------


def observe(
    processor: DriftSpanProcessor,
    expectation: str,
    columns: Mapping[str, ArrayLike | Sequence[object]],
    *,
    rows: int,
) -> None:
    """Hand whole columns (``rows`` long) to ``expectation``'s watched values."""
    processor.engine.observe(expectation, columns, rows=rows)


def observe_matrix(
    processor: DriftSpanProcessor,
    expectation: str,
    matrix: ArrayLike,
    columns_of: Mapping[str, int],
    *,
    columns: Mapping[str, ArrayLike | Sequence[object]],
) -> None:
    """Hand a numeric ``(rows, features)`` matrix (watch -> its column in
    ``columns_of``) and further whole ``columns`` to ``expectation``."""
    processor.engine.observe_matrix(expectation, matrix, columns_of, columns=columns)


def count_sampled_out(processor: DriftSpanProcessor, expectation: str, rows: int) -> None:
    """Count ``rows`` left out of what was handed to ``expectation`` (in ``drift.sampled_out``)."""
    processor.engine.count_sampled_out(expectation, rows)


def on_worker_pass(processor: DriftSpanProcessor, hook: Callable[[], None]) -> None:
    """Call ``hook()`` before each pass of ``processor``'s worker (and in every
    flush): on the worker's thread, where its own CPU clock can be read."""
    processor.engine.add_source(hook)


def cost_budget(processor: DriftSpanProcessor) -> float:
    """``OTEL_DRIFT_COST_BUDGET`` of ``processor``: a fraction of a call's time; 0: off."""
    return processor.engine.settings.cost_budget


def spans_sampled(processor: DriftSpanProcessor) -> bool:
    """Whether ``OTEL_DRIFT_ML_SPANS=sampled``: spans only for observed model calls."""
    return processor.engine.settings.ml_spans == "sampled"


@dataclass(frozen=True)
class BrokenRule:
    """A constraint rule one span's watched value broke."""

    expectation: str
    watch: str
    rule: str


def observe_span(
    processor: DriftSpanProcessor,
    expectations: list[Expectation],
    attributes: Mapping[str, Any],
    duration_ns: int,
    status: StatusCode,
) -> list[BrokenRule]:
    """Hand one of our own spans to each expectation as one row, read the
    processor's way; return the rules it broke (for events before it ends)."""
    # Imported on the call (see the module's docstring): loaded by now.
    from otel_drift._internal.engine.constraints import (  # noqa: PLC0415
        check_labels,
        check_numeric,
    )
    from otel_drift._internal.engine.sources import span_value  # noqa: PLC0415
    from otel_drift._internal.values import category_column, numeric_column  # noqa: PLC0415

    broken_rules: list[BrokenRule] = []
    for expectation in expectations:
        columns: dict[str, ArrayLike | Sequence[object]] = {}
        for watch in expectation.watch:
            value = span_value(watch, attributes, duration_ns, status)
            if value is None and watch.constraints.empty:
                continue
            raw = [value]
            if not watch.constraints.empty:
                if watch.kind == "numeric":
                    broken = check_numeric(watch.constraints, raw, numeric_column(raw), 1)
                else:
                    broken = check_labels(watch.constraints, raw, category_column(raw), 1)
                broken_rules.extend(
                    BrokenRule(expectation.name, watch.name, rule) for rule in broken.counts
                )
            if value is not None:
                columns[watch.name] = raw
        processor.engine.observe(expectation.name, columns, rows=1)
    return broken_rules
