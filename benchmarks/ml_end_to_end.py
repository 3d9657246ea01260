"""What an instrumented model call costs the user's process: the ML section's headline.

A scikit-learn LogisticRegression on the breast-cancer data (30 features),
called the way applications call it: a pandas DataFrame with feature names
(all numeric; and mixed dtypes, with a categorical ``size`` column going
through a ColumnTransformer), or a numpy array; 1 row and 1,024 rows a call.
Every call is timed in **total process CPU** (``time.process_time``: the
caller, the drift worker thread and the SDK's export thread), with the
garbage collector on and the drift worker running in this process at its
default flush interval; an arm ends when the worker has drained what the
arm handed it and the spans are exported, so their cost is inside the arm.

Arms, alternated within each round (order rotated every round):

- ``bare``: ``model.predict`` alone; ``bare again``: the same, the A/A control;
- ``span``: ``predict`` inside one plain SDK span (BatchSpanProcessor to a
  dropping exporter), what any traced operation costs;
- ``instrumented``: ``SklearnInstrumentor`` + ``DriftSpanProcessor`` as
  configured by default (``OTEL_DRIFT_COST_BUDGET=0.05``);
- ``sampled spans``: the same with ``OTEL_DRIFT_ML_SPANS=sampled``.

The instrumentation's state (its measured costs) is kept across rounds, as in
a long-running service. The physical limit beside it: one numpy pass binning
a 1,024 x 30 matrix into per-column deciles, in ns per value.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from benchmarks.common import (
    added_interval,
    bootstrap,
    interleave,
    judge_interval,
    spread,
    table,
)
from otel_drift import DriftSpanProcessor, Settings, loads_expectations

ROWS = (1, 1024)
DECILES = tuple(i / 10 for i in range(11))
#: Target: what otel-drift adds beyond the span, in % of the bare call.
TARGET_PERCENT = 5.0
#: CPU seconds each arm's loop aims at (full, quick).
ARM_SECONDS = (0.12, 0.004)
SEED = 20261205


class _Dropping(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass
class _Case:
    label: str
    model: Any
    name: str
    inputs: dict[int, Any] = field(default_factory=dict)


def _frame_of(matrix: Any, names: list[str], size: Any = None) -> Any:
    pandas = importlib.import_module("pandas")
    frame = pandas.DataFrame(matrix, columns=names)
    if size is not None:
        frame.insert(0, "size", pandas.Categorical(size, categories=["small", "medium", "large"]))
    return frame


def _cases(rng: np.random.Generator) -> tuple[list[_Case], dict[str, Any]]:
    """The three inputs (models fitted on them) and the baseline data per model."""
    datasets = importlib.import_module("sklearn.datasets")
    linear = importlib.import_module("sklearn.linear_model")
    pipeline = importlib.import_module("sklearn.pipeline")
    compose = importlib.import_module("sklearn.compose")
    preprocessing = importlib.import_module("sklearn.preprocessing")
    bunch = datasets.load_breast_cancer()
    names = [str(n) for n in bunch.feature_names]
    raw, labels = bunch.data, bunch.target
    # Standardized up front: predict is one bare linear model, the harshest yardstick.
    features = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    area = raw[:, names.index("mean area")]
    size = np.where(area < 450, "small", np.where(area < 800, "medium", "large"))
    frame, mixed = _frame_of(features, names), _frame_of(features, names, size)
    mixed_model = pipeline.Pipeline(
        [
            (
                "prep",
                compose.ColumnTransformer(
                    [
                        ("num", "passthrough", names),
                        ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["size"]),
                    ]
                ),
            ),
            ("clf", linear.LogisticRegression(max_iter=1000)),
        ]
    )
    cases = [
        _Case("DataFrame, numeric", linear.LogisticRegression(max_iter=1000), "lr-frame"),
        _Case("DataFrame, mixed dtypes + categorical", mixed_model, "lr-mixed"),
        _Case("numpy", linear.LogisticRegression(max_iter=1000), "lr-numpy"),
    ]
    data = {"lr-frame": frame, "lr-mixed": mixed, "lr-numpy": features}
    naming = importlib.import_module("otel_drift.instrumentation")
    for case in cases:
        naming.name_model(case.model.fit(data[case.name], labels), case.name)
        for rows in ROWS:
            picks = rng.integers(0, len(features), rows)
            source = data[case.name]
            case.inputs[rows] = (
                source[picks] if isinstance(source, np.ndarray) else source.iloc[picks]
            )
    return cases, {"names": names, "features": features, "size": size}


def _expectations(baseline: dict[str, Any]) -> str:
    names, features = baseline["names"], baseline["features"]
    expectations = []
    for model in ("lr-frame", "lr-mixed", "lr-numpy"):
        watch: dict[str, Any] = {}
        for index, name in enumerate(names):
            column = features[:, index]
            watch[f"f{index}"] = {
                "feature": index if model == "lr-numpy" else name,
                "baseline": {
                    "quantiles": {
                        str(q): float(v)
                        for q, v in zip(DECILES, np.quantile(column, DECILES), strict=True)
                    },
                    "samples": len(column),
                },
            }
        watch["prediction"] = {
            "source": "ml.prediction",
            "baseline": {"categories": {"0": 0.37, "1": 0.63}, "samples": len(features)},
        }
        if model == "lr-mixed":
            values, counts = np.unique(baseline["size"], return_counts=True)
            watch["size"] = {
                "feature": "size",
                "baseline": {
                    "categories": {
                        str(v): float(c / counts.sum()) for v, c in zip(values, counts, strict=True)
                    },
                    "samples": int(counts.sum()),
                },
            }
        expectations.append(
            {
                "name": model,
                "match": {"attributes": {"ml.model.name": model}},
                "window": {"spans": 1000},
                "watch": watch,
            }
        )
    return json.dumps({"version": 1, "expectations": expectations})


class _Drift:
    """A provider with a BatchSpanProcessor and a DriftSpanProcessor, and the
    scikit-learn instrumentation pointed at them, its recorder kept across arms."""

    def __init__(self, expectations: str, settings: Settings) -> None:
        self.provider = TracerProvider()
        self.batch = BatchSpanProcessor(_Dropping())
        self.processor = DriftSpanProcessor(
            loads_expectations(expectations, path="<ml_end_to_end>.json"),
            settings=settings,
            tracer_provider=self.provider,
            emit_metrics=False,
        )
        self.provider.add_span_processor(self.batch)
        self.provider.add_span_processor(self.processor)
        module = importlib.import_module("otel_drift.instrumentation.sklearn")
        self.instrumentor = module.SklearnInstrumentor()
        self.recorder: Any = None

    def on(self) -> None:
        self.instrumentor.instrument(tracer_provider=self.provider, drift_processor=self.processor)
        if self.recorder is None:
            self.recorder = self.instrumentor.recorder
        self.instrumentor.recorder = self.recorder

    def off(self) -> None:
        self.instrumentor.uninstrument()

    def drain(self) -> None:
        """Wait (no CPU) until the worker has fed what it was handed; export the spans."""
        engine = self.processor.engine
        worker = engine._worker
        engine.wake()
        while worker.queue:
            time.sleep(0.002)
        with worker.lock:  # its last pass has ended
            pass
        self.batch.force_flush()

    def rows_counted(self) -> tuple[int, int]:
        """(rows observed, rows left out) since start: the sampler's own counts."""
        recorder = self.recorder
        return (0, 0) if recorder is None else (recorder.rows_observed, recorder.rows_left_out)

    def shutdown(self) -> None:
        self.provider.shutdown()


class _Arms:
    def __init__(self, case: _Case, rows: int, drifts: tuple[_Drift, _Drift], quick: bool) -> None:
        self.model = case.model
        self.data = case.inputs[rows]
        self.case = case
        self.drift, self.sampled = drifts
        self.plain = TracerProvider()
        self.plain_batch = BatchSpanProcessor(_Dropping())
        self.plain.add_span_processor(self.plain_batch)
        self.tracer = self.plain.get_tracer("bench")
        self.attributes = {
            "ml.model.name": case.name,
            "ml.framework": "sklearn",
            "ml.operation": "predict",
        }
        self.extra = {"ml.batch_size": rows, "ml.features": int(self.data.shape[1])}
        start = time.process_time_ns()
        for _ in range(5):
            self.model.predict(self.data)
        per_call = (time.process_time_ns() - start) / 5
        self.loops = max(3, int(ARM_SECONDS[1 if quick else 0] * 1e9 / per_call))

    def arms(self) -> dict[str, Callable[[], float]]:
        return {
            "bare": self.bare,
            "bare again": self.bare,
            "span": self.span,
            "instrumented": lambda: self.instrumented(self.drift),
            "sampled spans": lambda: self.instrumented(self.sampled),
        }

    def _cpu(self, loop: Callable[[], None], after: Callable[[], object] | None = None) -> float:
        start = time.process_time_ns()
        loop()
        if after is not None:
            after()
        return (time.process_time_ns() - start) / self.loops

    def bare(self) -> float:
        model, data, loops = self.model, self.data, self.loops

        def loop() -> None:  # model.predict looked up per call, as applications do
            for _ in range(loops):
                model.predict(data)

        return self._cpu(loop)

    def span(self) -> float:
        model, data, loops = self.model, self.data, self.loops
        start_span, name, attributes, extra = (
            self.tracer.start_as_current_span,
            f"predict {self.case.name}",
            self.attributes,
            self.extra,
        )

        def loop() -> None:
            for _ in range(loops):
                with start_span(name, kind=SpanKind.INTERNAL, attributes=attributes) as span:
                    model.predict(data)
                    span.set_attributes(extra)

        return self._cpu(loop, self.plain_batch.force_flush)

    def instrumented(self, drift: _Drift) -> float:
        model, data, loops = self.model, self.data, self.loops
        drift.on()
        try:

            def loop() -> None:
                for _ in range(loops):
                    model.predict(data)

            return self._cpu(loop, drift.drain)
        finally:
            drift.off()

    def close(self) -> None:
        self.plain.shutdown()


def binning_limit_ns(rng: np.random.Generator, repeats: int) -> float:
    """One numpy pass binning 1,024 x 30 standardized values into deciles, counted per
    column (searchsorted, then one bincount): ns per value, best of ``repeats``."""
    matrix = rng.normal(size=(1024, 30))
    edges = np.quantile(rng.normal(size=100_000), DECILES[1:-1])
    offsets = np.arange(30) * (edges.size + 1)  # column j counts into its own 10 bins
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        bins = np.searchsorted(edges, matrix) + offsets
        np.bincount(bins.ravel(), minlength=30 * (edges.size + 1))
        best = min(best, time.perf_counter_ns() - start)
    return best / matrix.size


@dataclass
class Headline:
    rows: list[list[str]]
    figures: dict[str, float]
    markdown: str


def measure(quick: bool) -> Headline:
    """The headline table: instrumented vs bare per case, with the A/A control."""
    rng = np.random.default_rng(SEED)
    cases, baseline = _cases(rng)
    expectations = _expectations(baseline)
    drifts = (
        _Drift(expectations, Settings()),
        _Drift(expectations, Settings(ml_spans="sampled")),
    )
    rounds = 2 if quick else 7
    rows: list[list[str]] = []
    figures: dict[str, float] = {}
    try:
        for case in cases:
            for size in ROWS:
                arms = _Arms(case, size, drifts, quick)
                before = drifts[0].rows_counted()
                try:
                    results = interleave(arms.arms(), rounds)
                finally:
                    arms.close()
                after = drifts[0].rows_counted()
                observed, left_out = after[0] - before[0], after[1] - before[1]
                share = observed / max(observed + left_out, 1) * 100
                rows.append([*_row(case, size, results, figures), f"{share:.1f} %"])
        limit = binning_limit_ns(rng, 5 if quick else 50)
    finally:
        for drift in drifts:
            drift.shutdown()
    figures["ml_binning_limit_ns_per_value"] = limit
    return Headline(rows, figures, _markdown(rows, figures, limit, quick))


def _row(
    case: _Case, size: int, results: dict[str, list[float]], figures: dict[str, float]
) -> list[str]:
    bare = results["bare"]
    control = added_interval(results["bare again"], bare)
    span = added_interval(results["span"], bare)
    instrumented = added_interval(results["instrumented"], bare)
    # What otel-drift adds beyond the span, in % of the bare call (the budget's terms).
    beyond = bootstrap(
        [
            (i - s) / b * 100
            for i, s, b in zip(results["instrumented"], results["span"], bare, strict=True)
        ]
    )
    sampled = added_interval(results["sampled spans"], bare)
    key = f"{'numpy' if case.name == 'lr-numpy' else case.name.removeprefix('lr-')}_b{size}"
    figures[f"ml_added_pct_{key}"] = instrumented.value
    figures[f"ml_beyond_span_pct_{key}"] = beyond.value
    figures[f"ml_aa_pct_{key}"] = control.value
    return [
        f"{case.label}, {size} row{'s' if size > 1 else ''}",
        spread([b / 1e3 for b in bare]).fmt(1),
        control.fmt(1, " %"),
        span.fmt(1, " %"),
        instrumented.fmt(1, " %"),
        judge_interval(beyond, TARGET_PERCENT),
        sampled.fmt(1, " %"),
    ]


def _markdown(rows: list[list[str]], figures: dict[str, float], limit: float, quick: bool) -> str:
    headline = table(
        [
            "input, rows a call",
            "bare predict µs CPU",
            "A/A: bare again",
            "+ one plain SDK span",
            "instrumented (default)",
            "instrumented minus span, % of bare (target ≤ 5 %)",
            "instrumented, ML_SPANS=sampled",
            "rows observed (default)",
        ],
        rows,
    )
    lines = [
        "**Headline: what a model call costs with otel-drift, end to end.** Total process "
        "CPU per call (caller, drift worker and export threads; GC on; the worker running "
        "in process and drained inside each arm), arms alternated in each round, median "
        "per-round excess over the bare call with its 95 % bootstrap interval. "
        "scikit-learn LogisticRegression, breast cancer (30 features; 31 or 32 watched "
        "values: every feature, the prediction, and `size` for the mixed frame). "
        "Rows observed: the share of the rows handed to the model that the budget's "
        "sampler kept, by its own counts (the rest are counted in `drift.sampled_out`).",
        "",
        headline,
        "",
        f"Physical limit: one numpy pass binning 1,024 x 30 values into per-column deciles "
        f"costs {limit:.2f} ns per value (best of the repeats).",
    ]
    if quick:
        lines.append("Quick mode: a few calls per arm; indicative only.")
    return "\n".join(lines)
