"""ML batches: what an instrumented model call costs, and ``engine.observe`` next to it.

The headline (``ml_end_to_end.py``): instrumented vs bare model calls in
total process CPU, DataFrame and numpy input, with an A/A control. Below
it, the components:

A LogisticRegression is trained on scikit-learn's breast-cancer data (30
features); batches of 1, 32 and 1024 held-out rows (drawn with replacement)
go through ``model.predict`` and through ``engine.observe_matrix`` (the matrix
and the column of each watched feature, as the ML instrumentations hand it
over), against deciles of the training data as baselines.

Two costs are kept apart: the caller's (``observe``: what the request pays)
and the worker's (turning queued columns into sketches and closing windows).
The engine here has no background thread; ``force_flush`` runs the worker's
code on this thread (whenever the engine would have woken its thread), timed
apart, so the two never compete for the GIL inside one timing.
whylogs profiles the same batches in the same rounds: ``why.log`` of the
batch as a DataFrame, and row by row into one long-lived profile.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks import ml_end_to_end
from benchmarks.common import Section, interleave, spread, table, time_ns, verdict
from otel_drift import DriftEngine, Settings, loads_expectations

EXPECTATION = "breast-cancer-lr"
BATCH_SIZES = (1, 32, 1024)
WINDOW_ROWS = 1000
DECILES = tuple(i / 10 for i in range(11))
#: Targets for batch 1024: the caller's cost against predict, and throughput.
TARGET_PERCENT_OF_PREDICT = 5.0
TARGET_VALUES_PER_SECOND = 50e6
#: observe() calls per timed loop (full, quick). Full loops hold a whole
#: number of windows, so the worker's cost includes closing windows at their
#: steady-state rate; batch 1 costs the worker about 1 ms a row, hence 1000.
OBSERVE_LOOPS = {1: (1000, 50), 32: (125, 8), 1024: (125, 4)}
#: Rows per round that whylogs profiles one at a time (its cost is per row).
WHYLOGS_ROWS = 32
SEED = 20240611
#: OTEL_DRIFT_MAX_BATCH_ROWS of the sampled arm.
SAMPLED_ROWS = 256

Matrix = NDArray[np.float64]


def _peer(name: str) -> ModuleType | None:
    """A peer library, or None when it is not installed (the main dev venv)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class _SynchronousEngine(DriftEngine):
    """A DriftEngine without its worker thread; ``force_flush`` runs the worker's code.

    The thread would wake on every ``observe`` and take the GIL in the middle
    of the caller's timed loop (this machine has 2 cores), mixing the two costs
    this section measures apart.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A thread never started: the worker starts no other, and shutdown() sees
        # one that is not alive and skips the join.
        self._worker.thread = threading.Thread(target=lambda: None)

    def wake_requested(self) -> bool:
        """Whether the engine has asked its (absent) worker to run now; forgets the request."""
        wake = self._worker._wake
        if not wake.is_set():
            return False
        wake.clear()
        return True

    def run_worker(self) -> None:
        """One pass of the worker thread, as it runs when woken (force_flush would also
        close the open window early, once it holds min_samples rows)."""
        with self._worker.lock:
            self._worker.run_pass()


class _Data:
    """Training features (for the baselines), held-out rows and a fitted model."""

    def __init__(self, rng: np.random.Generator) -> None:
        datasets = _peer("sklearn.datasets")
        self.model: Any = None
        if datasets is None:
            # No scikit-learn: our side still runs, on 30 synthetic features.
            features: Matrix = rng.normal(size=(569, 30))
            labels = None
        else:
            features, labels = datasets.load_breast_cancer(return_X_y=True)
        order = rng.permutation(len(features))
        cut = int(0.7 * len(features))
        train, test = order[:cut], order[cut:]
        mean, std = features[train].mean(axis=0), features[train].std(axis=0)
        # Standardized outside the model so that the solver converges and
        # predict is one bare linear model: the harshest yardstick for observe.
        self.train: Matrix = (features[train] - mean) / std
        self.test: Matrix = (features[test] - mean) / std
        if labels is not None:
            linear = importlib.import_module("sklearn.linear_model")
            self.model = linear.LogisticRegression(max_iter=1000).fit(self.train, labels[train])
        self.names = [f"feature_{i}" for i in range(features.shape[1])]

    def expectations_json(self) -> str:
        watch = {
            name: {
                "attribute": f"ml.input.{name}",
                "baseline": {
                    "quantiles": {
                        str(q): float(v)
                        for q, v in zip(DECILES, np.quantile(column, DECILES), strict=True)
                    },
                    "samples": len(column),
                },
            }
            for name, column in zip(self.names, self.train.T, strict=True)
        }
        document = {
            "version": 1,
            "expectations": [
                {
                    "name": EXPECTATION,
                    "match": {"span_name": "predict", "attributes": {"ml.model.name": "lr"}},
                    "window": {"spans": WINDOW_ROWS},
                    "watch": watch,
                }
            ],
        }
        return json.dumps(document)


class _Arms:
    """The timed arms for one batch size; each returns nanoseconds per batch."""

    def __init__(
        self,
        data: _Data,
        engines: tuple[_SynchronousEngine, _SynchronousEngine],
        batch: Matrix,
        quick: bool,
    ) -> None:
        self.data = data
        self.engine, self.sampled_engine = engines
        self.sampled_worker_ns: list[float] = []
        self.batch = batch
        self.rows = len(batch)
        self.observe_loops = OBSERVE_LOOPS[self.rows][1 if quick else 0]
        self.predict_loops = 5 if quick else 50
        self.worker_ns: list[float] = []
        self.observed_values = 0
        pandas = _peer("pandas")
        whylogs = _peer("whylogs")
        self.frame: Any = None
        self.why: Any = whylogs
        if pandas is not None and whylogs is not None:
            self.frame = pandas.DataFrame
            self.rows_as_dicts = [dict(zip(data.names, row, strict=True)) for row in batch.tolist()]
            profiles = importlib.import_module("whylogs.core")
            self.profile = profiles.DatasetProfile()

    def arms(self) -> dict[str, Callable[[], float]]:
        arms: dict[str, Callable[[], float]] = {
            "observe": self.observe,
            "observe_sampled": self.observe_sampled,
        }
        if self.data.model is not None:
            arms["predict"] = self.predict
        if self.frame is not None:
            arms["whylogs_batch"] = self.whylogs_batch
            arms["whylogs_row"] = self.whylogs_row
        return arms

    def predict(self) -> float:
        predict, batch, loops = self.data.model.predict, self.batch, self.predict_loops

        def loop() -> None:
            for _ in range(loops):
                predict(batch)

        return time_ns(loop) / loops

    def observe(self) -> float:
        """observe_matrix of every row (the default up to 16,384 rows)."""
        return self._observe(self.engine, self.worker_ns)

    def observe_sampled(self) -> float:
        """observe_matrix with at most SAMPLED_ROWS rows observed per batch."""
        return self._observe(self.sampled_engine, self.sampled_worker_ns)

    def _observe(self, engine: _SynchronousEngine, worker_ns: list[float]) -> float:
        """The caller's cost of observe_matrix; the worker's is kept in ``worker_ns``.

        The worker's code runs (timed apart) whenever the engine would wake its
        thread, as in production: the buffers the caller copies into then come
        back as often as they would there. Queuing a whole round before any
        worker pass instead would have every copy write to memory long evicted
        from the caches, which a running worker never lets happen.
        """
        batch, loops = self.batch, self.observe_loops
        observe, woken, clock = engine.observe_matrix, engine.wake_requested, time.perf_counter_ns
        # What the ML instrumentations hand over: the input matrix as it is and,
        # per watched value, its column (a mapping they keep per model).
        columns_of = {f"ml.input.{name}": i for i, name in enumerate(self.data.names)}
        accepted: list[bool] = []
        caller = worker = 0

        def loop() -> None:
            nonlocal caller, worker
            for _ in range(loops):
                start = clock()
                accepted.append(observe(EXPECTATION, batch, columns_of))
                caller += clock() - start
                if woken():
                    # Not time_ns: its gc.collect() would evict the caches each wake.
                    start = clock()
                    engine.run_worker()
                    worker += clock() - start

        time_ns(loop)
        worker += time_ns(engine.force_flush)
        if not all(accepted):
            raise RuntimeError("observe() refused a batch: the queue was sized too small")
        worker_ns.append(worker / loops)
        if engine is self.engine:
            self.observed_values += loops * batch.size
        return caller / loops

    def whylogs_batch(self) -> float:
        frame, log, batch, names = self.frame, self.why.log, self.batch, self.data.names
        loops = 1 if self.rows >= WINDOW_ROWS else 3

        def loop() -> None:
            for _ in range(loops):
                log(pandas=frame(batch, columns=names))

        return time_ns(loop) / loops

    def whylogs_row(self) -> float:
        # One long-lived profile fed row by row is whylogs' cheapest per-row
        # path (why.log(row=...) builds a new profile each time, ~10x slower).
        track = self.profile.track
        rows = self.rows_as_dicts[:WHYLOGS_ROWS]

        def loop() -> None:
            for row in rows:
                track(row=row)

        # Per row, times the batch's rows: what profiling the batch this way costs.
        return time_ns(loop) / len(rows) * self.rows


def _processed_values(engine: DriftEngine) -> int:
    return sum(state.total_valid for state in engine.watch_states())


def _us(ns: list[float]) -> str:
    return spread([n / 1e3 for n in ns]).fmt(1)


def _rate(values: int, ns: list[float]) -> str:
    """Millions of values per second (values per ns, times 1e3)."""
    return spread([values / n * 1e3 for n in ns]).fmt(2)


def run(quick: bool) -> Section:
    # The headline first, with the collector on and nothing frozen, as a service runs.
    headline = _headline(quick)
    rng = np.random.default_rng(SEED)
    data = _Data(rng)
    # time_ns() collects before each loop; frozen, the heap that scikit-learn
    # and pandas brought in is not scanned again each time (~0.2 s a collect).
    gc.freeze()
    try:
        components = _measure(data, rng, quick)
    finally:
        gc.unfreeze()
    return Section(
        title=components.title,
        markdown=f"{headline.markdown}\n\n**Components.** {components.markdown}",
        figures={**headline.figures, **components.figures},
    )


def _headline(quick: bool) -> ml_end_to_end.Headline:
    missing = [name for name in ("sklearn", "pandas") if _peer(name) is None]
    if missing:
        return ml_end_to_end.Headline(
            [], {}, f"Headline (instrumented model calls): {', '.join(missing)} not installed."
        )
    return ml_end_to_end.measure(quick)


def _measure(data: _Data, rng: np.random.Generator, quick: bool) -> Section:
    # The default queue (65,536 items, 1M rows) holds a whole timed loop; a
    # refused batch would time a no-op, so observe() results are checked.
    expectations = loads_expectations(data.expectations_json(), path="<ml_batches>.json")
    engine = _SynchronousEngine(expectations, Settings())
    sampled = _SynchronousEngine(expectations, Settings(max_batch_rows=SAMPLED_ROWS))
    rounds = 2 if quick else 11
    results: dict[int, dict[str, list[float]]] = {}
    workers: dict[int, list[float]] = {}
    sampled_workers: dict[int, list[float]] = {}
    observed = 0
    for size in BATCH_SIZES:
        batch = data.test[rng.integers(0, len(data.test), size)]
        arms = _Arms(data, (engine, sampled), batch, quick)
        results[size] = interleave(arms.arms(), rounds)
        workers[size] = arms.worker_ns[-rounds:]  # the warm-up round is not reported
        sampled_workers[size] = arms.sampled_worker_ns[-rounds:]
        observed += arms.observed_values
    engine.shutdown()
    sampled.shutdown()
    if _processed_values(engine) != observed or engine.dropped_by_expectation():
        raise RuntimeError("the engine did not process every observed value")
    return _section(data, results, workers, sampled_workers, quick)


def _section(
    data: _Data,
    results: dict[int, dict[str, list[float]]],
    workers: dict[int, list[float]],
    sampled_workers: dict[int, list[float]],
    quick: bool,
) -> Section:
    features = len(data.names)
    have_model = data.model is not None
    have_whylogs = "whylogs_batch" in results[BATCH_SIZES[0]]
    ours_rows: list[list[str]] = []
    peer_rows: list[list[str]] = []
    figures: dict[str, float] = {}
    for size, arms in results.items():
        values = size * features
        caller, worker = arms["observe"], workers[size]
        total = [c + w for c, w in zip(caller, worker, strict=True)]
        percent = "not installed"
        predict = "not installed"
        if have_model:
            predict = _us(arms["predict"])
            shares = [c / p * 100 for c, p in zip(caller, arms["predict"], strict=True)]
            percent = spread(shares).fmt(1, " %")
            figures[f"ml_observe_pct_of_predict_b{size}"] = spread(shares).median
            sampled = [
                c / p * 100 for c, p in zip(arms["observe_sampled"], arms["predict"], strict=True)
            ]
            figures[f"ml_sampled_observe_pct_of_predict_b{size}"] = spread(sampled).median
        figures[f"ml_sampled_caller_us_b{size}"] = spread(arms["observe_sampled"]).median / 1e3
        figures[f"ml_sampled_worker_us_b{size}"] = spread(sampled_workers[size]).median / 1e3
        ours_rows.append(
            [
                f"{size} x {features}",
                predict,
                _us(caller),
                percent,
                _us(worker),
                _rate(values, caller),
                _rate(values, worker),
                _rate(values, total),
                spread([w / values for w in worker]).fmt(1),
            ]
        )
        figures[f"ml_values_per_s_total_b{size}"] = spread([values / t * 1e9 for t in total]).median
        figures[f"ml_values_per_s_worker_b{size}"] = spread(
            [values / w * 1e9 for w in worker]
        ).median
        row = [f"{size} x {features}", _us(total)]
        if have_whylogs:
            per_batch = [w / t for w, t in zip(arms["whylogs_batch"], total, strict=True)]
            per_row = [w / t for w, t in zip(arms["whylogs_row"], total, strict=True)]
            row += [
                _us(arms["whylogs_batch"]),
                spread(per_batch).fmt(1, "x"),
                _us(arms["whylogs_row"]),
                spread(per_row).fmt(1, "x"),
            ]
            figures[f"ml_whylogs_batch_over_ours_b{size}"] = spread(per_batch).median
        else:
            row += ["not installed"] * 4
        peer_rows.append(row)
    return Section(
        title="ML batches: model calls end to end, and observe_matrix() next to predict()",
        markdown=_markdown(ours_rows, peer_rows, figures, have_model, quick),
        figures=figures,
    )


def _markdown(
    ours_rows: list[list[str]],
    peer_rows: list[list[str]],
    figures: dict[str, float],
    have_model: bool,
    quick: bool,
) -> str:
    big = BATCH_SIZES[-1]
    ours = table(
        [
            "batch (rows x features)",
            "predict µs",
            "observe_matrix µs (caller)",
            "caller / predict",
            "worker µs per batch",
            "M values/s caller",
            "M values/s worker",
            "M values/s caller+worker",
            "worker ns per value",
        ],
        ours_rows,
    )
    peers = table(
        [
            "batch",
            "otel-drift µs (caller+worker)",
            "whylogs why.log(df) µs",
            "whylogs / otel-drift",
            "whylogs per-row µs",
            "whylogs per-row / otel-drift",
        ],
        peer_rows,
    )
    rate = figures[f"ml_values_per_s_total_b{big}"]
    lines = [
        "Model: scikit-learn LogisticRegression on load_breast_cancer (30 standardized "
        "features), batches of held-out rows; one watched value per feature (PSI vs the "
        f"training deciles, window {WINDOW_ROWS} rows). Median (min–max) over rounds; "
        "the caller's cost and the worker's are timed apart (the worker's code runs in "
        "force_flush, windows closed at their steady rate), GC paused, every row observed "
        "(no budget: this is the engine's own cost per value). Load average at the end: "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        ours,
        "",
        peers,
        "",
    ]
    if have_model:
        percent = figures[f"ml_observe_pct_of_predict_b{big}"]
        sampled = figures[f"ml_sampled_observe_pct_of_predict_b{big}"]
        lines.append(
            f"Target observe < {TARGET_PERCENT_OF_PREDICT:.0f} % of predict at batch {big}: "
            f"{verdict(percent < TARGET_PERCENT_OF_PREDICT)} ({percent:.1f} %) observing "
            f"every row (the default); {verdict(sampled < TARGET_PERCENT_OF_PREDICT)} "
            f"({sampled:.1f} %) with OTEL_DRIFT_MAX_BATCH_ROWS={SAMPLED_ROWS}, which observes "
            f"an evenly spaced {SAMPLED_ROWS} of the {big} rows (caller "
            f"{figures[f'ml_sampled_caller_us_b{big}']:.1f} µs, worker "
            f"{figures[f'ml_sampled_worker_us_b{big}']:.1f} µs per batch)."
        )
    else:
        lines.append("observe / predict: scikit-learn not installed (synthetic features).")
    lines.append(
        f"Target >= {TARGET_VALUES_PER_SECOND / 1e6:.0f} M values/s (caller+worker, batch "
        f"{big}): {verdict(rate >= TARGET_VALUES_PER_SECOND)} ({rate / 1e6:.1f} M/s)."
    )
    if quick:
        lines.append("Quick mode: a few loops per round; indicative only.")
    return "\n".join(lines)
