"""Model calls within OTEL_DRIFT_COST_BUDGET: one DataFrame conversion per call, a
sampling rate that follows the measured costs, every row counted, skew still found.

The costs are read from an injected clock (:class:`ModelClock`): the model
advances it by its own time and every read by the caller's, so the plans are
deterministic; no test here times anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from otel_drift.instrumentation import name_model

from otel_drift._internal.cli.main import main
from tests.ml.support import Drift, drift, need

need("sklearn")
pd = need("pandas")

from otel_drift.instrumentation._ml import inputs  # noqa: E402
from otel_drift.instrumentation._ml.budget import CostBudget  # noqa: E402
from otel_drift.instrumentation._ml.frames import FRAMES  # noqa: E402
from otel_drift.instrumentation.sklearn import SklearnInstrumentor  # noqa: E402

from tests.ml.frameworks import numeric_frame  # noqa: E402
from tests.ml.models import CANCER_TARGET, cancer_features, cancer_frame, cancer_model  # noqa: E402

BATCH = 250


class ModelClock:
    """Thread CPU as the budget reads it: each read costs ``read_ns`` (the caller's
    own work), each model call ``model_ns`` (set by the test: a slower, faster model)."""

    def __init__(self, model_ns: int, read_ns: int = 1000) -> None:
        self.model_ns = model_ns
        self.read_ns = read_ns
        self.now = 0
        self.reads = 0

    def __call__(self) -> int:
        self.now += self.read_ns
        self.reads += 1
        return self.now

    def run_model(self, x: Any) -> Any:
        self.now += self.model_ns
        return x


@pytest.fixture(scope="module")
def expectations(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The cancer Pipeline's baseline, by the CLI (every feature, ``size``, the prediction)."""
    folder = tmp_path_factory.mktemp("budget")
    data = folder / "train.csv"
    cancer_frame().to_csv(data, index=False)
    out = folder / "expectations.yaml"
    args = ["baseline", str(data), "-o", str(out), "--name", "cancer", "--model-version", "1"]
    args += ["--target", CANCER_TARGET, "--model", "tests.ml.models:cancer_model"]
    assert main([*args, "--no-progress"]) == 0
    return out.read_text()


def _watched(expectations: str, **settings: Any) -> Drift:
    pipeline = drift(expectations, **settings)
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    return pipeline


@pytest.fixture
def unbudgeted(expectations: str) -> Iterator[Drift]:
    pipeline = _watched(expectations)
    yield pipeline
    SklearnInstrumentor().uninstrument()
    pipeline.shutdown()


def _stream(rows: int, seed: int) -> Any:
    features = cancer_features()
    picks = np.random.default_rng(seed).integers(0, len(features), size=rows)
    return features.iloc[picks].reset_index(drop=True)


@pytest.mark.parametrize("size_dtype", ["object", "category"])
def test_a_dataframe_call_converts_its_input_once(
    unbudgeted: Drift, size_dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = name_model(cancer_model(), "cancer", "1")
    frame = _stream(40, seed=11)
    frame["size"] = frame["size"].astype(size_dtype)
    reads: list[int] = []
    read_column = inputs.other_column

    def counted(frame: Any, position: int) -> Any:
        reads.append(position)
        return read_column(frame, position)

    before = (FRAMES.conversions, FRAMES.blocks)
    monkeypatch.setattr(inputs, "other_column", counted)
    calls = 7
    for _ in range(calls):
        model.predict(frame)
    monkeypatch.undo()
    assert (FRAMES.conversions - before[0], FRAMES.blocks - before[1]) == (calls, calls)
    # Besides the one block of 30 numbers, one column read per call: the categorical.
    assert reads == [list(frame.columns).index("size")] * calls
    unbudgeted.processor.shutdown()
    assert sum(w.spans for w in unbudgeted.windows) == calls * 40
    states = {s.watch.name: s for s in unbudgeted.processor.engine.watch_states()}
    assert states["mean_radius"].total_valid == calls * 40
    assert states["size"].total_valid == calls * 40


@contextmanager
def _clocked(**settings: Any) -> Iterator[tuple[Drift, ModelClock, Any]]:
    """A real scikit-learn FunctionTransformer as the model: its time is the clock's."""
    from sklearn.preprocessing import FunctionTransformer  # noqa: PLC0415

    frame = numeric_frame()
    clock = ModelClock(model_ns=200_000)
    model = name_model(FunctionTransformer(clock.run_model).fit(frame), "clocked")
    watch = "\n".join(
        f"      f{i}: {{feature: {name!r}, baseline: {{quantiles: {{'0.0': 0, '1.0': 1}}}}}}"
        for i, name in enumerate(frame.columns)
    )
    text = f"""
version: 1
expectations:
  - name: clocked
    match: {{attributes: {{ml.model.name: clocked}}}}
    window: {{spans: 1000000}}
    watch:
{watch}
"""
    pipeline = drift(text, cost_budget=0.05, **settings)
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    # 10 ns of worker CPU per value, 30 values a row: 300 ns a row observed.
    SklearnInstrumentor().recorder.budget = CostBudget(
        clock=clock, random=np.random.default_rng(7), worker_ns_per_value=10.0
    )
    try:
        yield pipeline, clock, model
    finally:
        SklearnInstrumentor().uninstrument()
        pipeline.shutdown()


@pytest.fixture
def clocked() -> Iterator[tuple[Drift, ModelClock, Any]]:
    with _clocked() as found:
        yield found


def _phase(model: Any, batch: Any, calls: int, clock: ModelClock) -> tuple[float, float, float]:
    """(rows observed per observed call, share of calls observed, what observing
    cost in % of the model's time) over the last half of ``calls``.

    The cost is the clock's: every read is the caller's work (``read_ns``), every
    row observed the worker's (30 values at 10 ns).
    """
    recorder = SklearnInstrumentor().recorder
    for _ in range(calls // 2):  # the moving averages settle
        model.transform(batch)
    rows, left, reads = recorder.rows_observed, recorder.calls_left_out, clock.reads
    for _ in range(calls // 2):
        model.transform(batch)
    observed_calls = calls // 2 - (recorder.calls_left_out - left)
    observed_rows = recorder.rows_observed - rows
    cost = (clock.reads - reads) * clock.read_ns + observed_rows * 300
    return (
        observed_rows / max(observed_calls, 1),
        observed_calls / (calls // 2),
        cost / (calls // 2 * clock.model_ns) * 100,
    )


def test_the_sampling_rate_follows_the_budget_as_the_model_slows_and_speeds_up(
    clocked: tuple[Drift, ModelClock, Any],
) -> None:
    _, clock, model = clocked
    clock.read_ns = 20  # each clock read is 20 ns of the caller's own work
    batch = numeric_frame().iloc[:200]
    # A 2 ms model: 5 % is 100 µs; all 200 rows (60 µs of the worker's) fit.
    clock.model_ns = 2_000_000
    rows, share, cost = _phase(model, batch, 400, clock)
    assert (rows, share) == (200, 1.0) and cost < 5
    # 200 µs: 10 µs of budget, less what every call costs anyway: ~33 rows a call.
    clock.model_ns = 200_000
    rows, share, cost = _phase(model, batch, 400, clock)
    assert 28 <= rows <= 34 and share == 1.0 and 4 <= cost <= 5.2
    # 2 µs: 100 ns of budget, not even the fixed cost and one row: calls are left out
    # whole, observed ones keep one row (20 ns / 300 ns, rounded up), in a share
    # of the calls that keeps the average within the budget.
    clock.model_ns = 2_000
    rows, share, cost = _phase(model, batch, 800, clock)
    assert rows == 1 and 0.05 <= share <= 0.5 and 3 <= cost <= 5.5
    # Slower again: every row once more.
    clock.model_ns = 2_000_000
    rows, share, cost = _phase(model, batch, 400, clock)
    assert (rows, share) == (200, 1.0)


def test_rows_sampled_out_are_counted_exactly(clocked: tuple[Drift, ModelClock, Any]) -> None:
    pipeline, clock, model = clocked
    frame = numeric_frame()
    rng = np.random.default_rng(3)
    handed = 0
    for index in range(300):
        clock.model_ns = (2_000_000, 200_000, 20_000)[index % 3]
        rows = int(rng.integers(1, 300))
        model.transform(frame.iloc[rng.integers(0, len(frame), rows)])
        handed += rows
    recorder = SklearnInstrumentor().recorder
    pipeline.processor.shutdown()
    observed = sum(w.spans for w in pipeline.windows)
    sampled_out = pipeline.processor.engine.sampled_out_by_expectation()["clocked"]
    assert 0 < observed < handed and sampled_out > 0
    assert observed + sampled_out == handed
    assert (recorder.rows_observed, recorder.rows_left_out) == (observed, sampled_out)


SKEWS = {
    "mean_radius": lambda f: f.assign(**{"mean radius": f["mean radius"] * 100}),
    "worst_texture.missing": lambda f: f.assign(
        **{"worst texture": f["worst texture"].where(f.index % 3 != 0)}
    ),
    "size": lambda f: f.assign(size=f["size"].replace({"large": "LARGE"})),
    "prediction": None,  # only malignant cases: the prediction mix shifts
}


def _skewed(watch: str, rows: int) -> Any:
    skew = SKEWS[watch]
    if skew is not None:
        return skew(_stream(rows, seed=21))
    frame = cancer_frame()
    malignant = frame[frame[CANCER_TARGET] == 0].drop(columns=CANCER_TARGET)
    picks = np.random.default_rng(22).integers(0, len(malignant), size=rows)
    return malignant.iloc[picks].reset_index(drop=True)


def _first_critical_window(expectations: str, watch: str, *, budget: bool) -> tuple[int, int]:
    """(windows closed, the first in which ``watch`` was critical: 1-based, 0 never)."""
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import FunctionTransformer  # noqa: PLC0415

    pipeline = _watched(expectations, cost_budget=0.05 if budget else 0.0)
    clock = ModelClock(model_ns=300_000)
    try:
        model = name_model(
            Pipeline(
                [
                    ("clock", FunctionTransformer(clock.run_model).fit(cancer_features())),
                    ("model", cancer_model()),
                ]
            ),
            "cancer",
            "1",
        )
        # 5 % of 300 µs is 15 µs: a 250-row call keeps (15 - 1) / 0.32 = 43 rows.
        SklearnInstrumentor().recorder.budget = CostBudget(
            clock=clock, random=np.random.default_rng(9), worker_ns_per_value=10.0
        )
        frame = _skewed(watch, 24 * BATCH if budget else 4 * BATCH)
        for start in range(0, len(frame), BATCH):
            model.predict(frame.iloc[start : start + BATCH])
        pipeline.flush()
    finally:
        SklearnInstrumentor().uninstrument()
        pipeline.shutdown()
    sampled_out = pipeline.processor.engine.sampled_out_by_expectation().get("cancer", 0)
    assert (sampled_out > len(frame) // 2) if budget else sampled_out == 0
    closed = [w for w in pipeline.windows if not w.partial]
    critical = [
        any(v.watch == watch and v.status == 2 for v in window.watches) for window in closed
    ]
    return len(closed), critical.index(True) + 1 if True in critical else 0


@pytest.mark.parametrize("watch", sorted(SKEWS))
def test_skew_is_found_in_as_many_windows_of_observed_rows_with_the_budget_on(
    expectations: str, watch: str
) -> None:
    closed, first = _first_critical_window(expectations, watch, budget=False)
    assert closed >= 1 and first == 1
    closed, first_budgeted = _first_critical_window(expectations, watch, budget=True)
    assert closed >= 1 and first_budgeted == first


def test_bad_budget_values_fall_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from otel_drift._internal.settings import settings_from_env  # noqa: PLC0415

    settings = settings_from_env({"OTEL_DRIFT_COST_BUDGET": "50", "OTEL_DRIFT_ML_SPANS": "some"})
    assert (settings.cost_budget, settings.ml_spans) == (0.05, "all")
    assert "OTEL_DRIFT_COST_BUDGET='50'" in caplog.text and "OTEL_DRIFT_ML_SPANS" in caplog.text
    settings = settings_from_env({"OTEL_DRIFT_COST_BUDGET": "2%", "OTEL_DRIFT_ML_SPANS": "Sampled"})
    assert (settings.cost_budget, settings.ml_spans) == (0.02, "sampled")


def test_sampled_spans_make_a_span_only_for_observed_calls() -> None:
    with _clocked(ml_spans="sampled") as (pipeline, clock, model):
        recorder = SklearnInstrumentor().recorder
        batch = numeric_frame().iloc[:200]
        clock.model_ns = 2_000_000
        for _ in range(100):  # measured at 2 ms a call: every call observed
            model.transform(batch)
        assert len(pipeline.model_spans()) == 100 and recorder.calls_left_out == 0
        clock.model_ns = 20_000  # now about half the calls are left out whole
        for _ in range(400):
            model.transform(batch)
        spans = len(pipeline.model_spans()) - 100
        assert 0 < recorder.calls_left_out < 400
        assert spans + recorder.calls_left_out == 400


def test_the_worker_meter_charges_a_pass_to_the_values_it_took() -> None:
    from otel_drift.instrumentation._ml.budget import WorkerMeter  # noqa: PLC0415

    clock = ModelClock(model_ns=0, read_ns=0)
    meter = WorkerMeter(clock)
    prior = meter.ns_per_value
    meter.on_pass()  # the first pass: nothing to charge yet
    clock.now += 20_000  # a pass that took none of our values: what a pass costs anyway
    meter.on_pass()
    assert meter.idle_ns == 20_000 and meter.ns_per_value == prior
    meter.handed(100)
    clock.now += 20_000  # idle again
    meter.on_pass()  # takes the 100 values
    assert meter.ns_per_value == prior
    clock.now += 20_000 + 15_000  # the pass that fed them: 15 µs beyond an idle pass's
    meter.on_pass()
    assert meter.ns_per_value == 150.0
    # A pass that took one row of 31 values is charged what it cost beyond an idle
    # pass, weighed by its values: it barely moves the estimate.
    meter.handed(31)
    clock.now += 20_000
    meter.on_pass()
    clock.now += 20_000 + 31 * 150
    meter.on_pass()
    assert meter.ns_per_value == pytest.approx(150.0)
    # A garbage collection inside a pass counts for at most CLIP times the estimate.
    meter.handed(100)
    clock.now += 20_000
    meter.on_pass()
    clock.now += 20_000 + 5_000_000
    meter.on_pass()
    assert meter.ns_per_value < 3 * 150.0
    clock.now += 1_000_000  # idle passes cost nobody anything per value
    meter.on_pass()
    assert meter.ns_per_value < 3 * 150.0
