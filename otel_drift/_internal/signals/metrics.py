"""The ``drift.*`` metrics: observable instruments read from the engine's state.

``DriftMetrics`` registers observable gauges and counters whose callbacks
read the engine's snapshot at collection time, so nothing is recorded per
span or per value. Two describe the configuration rather than the values:
``drift.config.errors`` (expectations of the file left out as invalid) and
``drift.expectation.unmatched`` (expectations no span matched).
``ValueHistograms`` (opt-in) is the exception: it records each numeric value,
on the worker, into a histogram bucketed at its baseline's edges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.util.types import AttributeValue

from otel_drift._internal import semconv as sc
from otel_drift._internal.engine.core import DriftEngine
from otel_drift._internal.engine.watch_state import WatchState
from otel_drift._internal.expectations.model import BinnedBaseline
from otel_drift._internal.semconv import OWN_SCOPE
from otel_drift._internal.signals.views import value_histogram_name
from otel_drift.version import __version__


class DriftMetrics:
    """The ``drift.*`` instruments, observed from the engine's state at collection time."""

    def __init__(
        self,
        engine: DriftEngine,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        config_errors: Sequence[str | None] = (),
        unmatched: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """``config_errors``: the names of the expectations left out as invalid (None
        for one without a usable name); ``unmatched``: the names of those reported
        as matching no span."""
        self._engine = engine
        self._config_errors = Counter(config_errors)
        self._unmatched = unmatched
        meter = metrics.get_meter(OWN_SCOPE, __version__, meter_provider)
        meter.create_observable_gauge(
            sc.METRIC_SCORE,
            [self._scores],
            unit="1",
            description="Latest drift score per watched value.",
        )
        meter.create_observable_gauge(
            sc.METRIC_STATUS,
            [self._statuses],
            unit="1",
            description="Drift status per watched value: 0 ok, 1 warning, 2 critical.",
        )
        meter.create_observable_counter(
            sc.METRIC_VIOLATIONS,
            [self._violations],
            unit="{violation}",
            description="Values that broke a hard constraint, per rule.",
        )
        meter.create_observable_counter(
            sc.METRIC_OBSERVATIONS,
            [self._observations],
            unit="{value}",
            description="Values seen per watched value, by outcome (valid, missing, invalid).",
        )
        meter.create_observable_counter(
            sc.METRIC_DROPPED,
            [self._dropped],
            unit="{span}",
            description="Matched spans (or batch rows) dropped because the queue was full.",
        )
        meter.create_observable_counter(
            sc.METRIC_SAMPLED_OUT,
            [self._sampled_out],
            unit="{row}",
            description="Rows of large batches left out of the evenly spaced sample observed.",
        )
        meter.create_observable_counter(
            sc.METRIC_BIN_COUNT,
            [self._bins],
            unit="{value}",
            description="Values per baseline bin or category; sum across replicas for fleet drift.",
        )
        meter.create_observable_gauge(
            sc.METRIC_BASELINE_FRACTION,
            [self._baseline],
            unit="1",
            description="The baseline's expected fraction per bin or category.",
        )
        meter.create_observable_counter(
            sc.METRIC_CONFIG_ERRORS,
            [self._config_error_counts],
            unit="{expectation}",
            description="Expectations of the file that were invalid and disabled.",
        )
        meter.create_observable_gauge(
            sc.METRIC_UNMATCHED,
            [self._unmatched_flags],
            unit="1",
            description="1 for an expectation that matched no span while the service "
            "served spans, until one matches it.",
        )

    @staticmethod
    def _base(state_expectation: str, watch: str) -> dict[str, AttributeValue]:
        return {sc.EXPECTATION: state_expectation, sc.ATTRIBUTE: watch}

    def _scores(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            last = state.last
            if last is not None and last.score is not None:
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.METHOD] = state.watch.method
                yield Observation(last.score, attributes)

    def _statuses(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            attributes = self._base(state.expectation, state.watch.name)
            attributes[sc.METHOD] = state.watch.method
            yield Observation(state.status, attributes)

    def _violations(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for rule, count in sorted(state.violations.items()):
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.RULE] = rule
                yield Observation(count, attributes)

    def _observations(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for outcome, count in (
                ("valid", state.total_valid),
                ("missing", state.total_missing),
                ("invalid", state.total_invalid),
            ):
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.OUTCOME] = outcome
                yield Observation(count, attributes)

    def _dropped(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._per_expectation(self._engine.dropped_by_expectation())

    def _sampled_out(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._per_expectation(self._engine.sampled_out_by_expectation())

    def _per_expectation(self, counts: Mapping[str, int]) -> Iterable[Observation]:
        """One observation per expectation: its count, 0 when it has none."""
        for expectation in self._engine.expectations.expectations:
            yield Observation(counts.get(expectation.name, 0), {sc.EXPECTATION: expectation.name})

    def _config_error_counts(self, _options: CallbackOptions) -> Iterable[Observation]:
        for name, count in self._config_errors.items():
            yield Observation(count, {sc.EXPECTATION: name} if name is not None else {})

    def _unmatched_flags(self, _options: CallbackOptions) -> Iterable[Observation]:
        reported = set(self._unmatched())
        if not reported:
            return
        received = {
            state.expectation
            for state in self._engine.snapshot() or []
            if state.total_valid or state.total_missing or state.total_invalid
        }
        dropped = self._engine.dropped_by_expectation()
        for expectation in self._engine.expectations.expectations:
            name = expectation.name
            if name in reported:
                still = name not in received and not dropped.get(name)
                yield Observation(int(still), {sc.EXPECTATION: name})

    def _bins(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for name, count, _fraction in state.lifetime_bins():
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.BIN] = name
                yield Observation(count, attributes)

    def _baseline(self, _options: CallbackOptions) -> Iterable[Observation]:
        for state in self._engine.snapshot() or []:
            for name, _count, fraction in state.lifetime_bins():
                attributes = self._base(state.expectation, state.watch.name)
                attributes[sc.BIN] = name
                yield Observation(fraction, attributes)


class ValueHistograms:
    """Opt-in per-value histograms, bucketed at the baselines' edges (advisory boundaries).

    ``opentelemetry-instrument`` offers no way to add Views to its
    MeterProvider; ``explicit_bucket_boundaries_advisory`` is how an instrument
    brings its own buckets there.
    """

    def __init__(
        self, engine: DriftEngine, meter_provider: metrics.MeterProvider | None = None
    ) -> None:
        meter = metrics.get_meter(OWN_SCOPE, __version__, meter_provider)
        self._histograms: dict[tuple[str, str], metrics.Histogram] = {}
        for state in engine.watch_states():
            baseline = state.watch.baseline
            if isinstance(baseline, BinnedBaseline):
                self._histograms[(state.expectation, state.watch.name)] = meter.create_histogram(
                    value_histogram_name(state.expectation, state.watch.name),
                    unit=state.watch.source.unit
                    if state.watch.source.kind == "span.duration"
                    else "1",
                    description=f"Values of {state.expectation}.{state.watch.name}.",
                    explicit_bucket_boundaries_advisory=list(baseline.edges),
                )
        engine.add_value_listener(self)

    def __call__(self, state: WatchState, values: NDArray[np.float64]) -> None:
        histogram = self._histograms.get((state.expectation, state.watch.name))
        if histogram is None:
            return
        record = histogram.record
        for value in values[np.isfinite(values)].tolist():
            record(value)
