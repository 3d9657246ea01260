"""observe_matrix: one copied matrix, binned in one pass, counted as observe() counts it.

Every figure a window reports (samples, missing, invalid, scores, statuses,
lifetime bins, violations) must be the same whether a model's features come
in as a matrix, as one column each, or as many one-row batches.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import pytest

from otel_drift import DriftEngine, Settings, WindowEvaluation, loads_expectations
from otel_drift._internal.engine.worker import WAKE_AT_MATRIX_VALUES

FEATURES = ("f0", "f1", "f2", "f3")

EXPECTATIONS = """
version: 1
expectations:
  - name: model
    match: {span_name: predict}
    window: {spans: 700}
    min_samples: 100
    watch:
      f0:
        attribute: ml.input.f0
        baseline: {quantiles: {0.0: -3, 0.25: -0.67, 0.5: 0, 0.75: 0.67, 1.0: 3}}
        method: psi
      f1:
        attribute: ml.input.f1
        baseline: {quantiles: {0.0: -2, 0.5: 0, 1.0: 2}}
        method: jensen_shannon
      f2:
        attribute: ml.input.f2
        baseline: {quantiles: {0.0: -3, 0.1: -1.28, 0.5: 0, 0.9: 1.28, 1.0: 3}}
        method: wasserstein
        constraints: {min: -5, max: 5}
      f3:
        attribute: ml.input.f3
        baseline: {categories: {"0": 0.5, "1": 0.3, "2": 0.2}}
      f0_again:
        attribute: ml.input.f0
        baseline: {quantiles: {0.0: -3, 0.5: 0, 1.0: 3}}
        method: ks
      prediction:
        attribute: ml.prediction
        baseline: {categories: {"0": 0.6, "1": 0.4}}
"""


def _engine(**settings: Any) -> tuple[DriftEngine, list[WindowEvaluation]]:
    engine = DriftEngine(
        loads_expectations(EXPECTATIONS), Settings(flush_interval_s=3600, **settings)
    )
    windows: list[WindowEvaluation] = []
    engine.add_listener(windows.append)
    return engine, windows


def _data(seed: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, 4))
    matrix[rows // 2 :, 0] *= 100  # a unit change on f0 half way
    matrix[:, 3] = rng.choice([0, 1, 2, 7], size=rows, p=[0.4, 0.3, 0.2, 0.1])
    matrix[rng.integers(0, rows, 30), 1] = np.nan
    matrix[rng.integers(0, rows, 5), 2] = np.inf
    matrix[rng.integers(0, rows, 5), 2] = 9.0  # breaks max: 5
    matrix[rng.integers(0, rows, 20), 0] = 3.0  # the last edge, closed bin
    prediction = rng.choice([0, 1], size=rows, p=[0.6, 0.4])
    return matrix, prediction


COLUMNS_OF = {f"ml.input.{name}": i for i, name in enumerate(FEATURES)}


def _summary(engine: DriftEngine, windows: list[WindowEvaluation]) -> list[object]:
    per_window = [
        (
            w.spans,
            w.partial,
            [(x.watch, x.samples, x.missing, x.invalid, x.score, x.status) for x in w.watches],
        )
        for w in windows
    ]
    lifetime = [
        (s.watch.name, s.total_valid, s.total_missing, dict(s.violations), s.lifetime_bins())
        for s in engine.watch_states()
    ]
    return [per_window, lifetime]


def _by_columns(engine: DriftEngine, matrix: np.ndarray, prediction: np.ndarray) -> None:
    columns = {key: matrix[:, i] for key, i in COLUMNS_OF.items()}
    assert engine.observe("model", {**columns, "ml.prediction": prediction})


def test_matrix_counts_equal_one_column_each() -> None:
    matrix, prediction = _data(0, 2500)
    by_columns, by_columns_windows = _engine()
    by_matrix, by_matrix_windows = _engine()
    for start in range(0, 2500, 500):
        rows = slice(start, start + 500)
        _by_columns(by_columns, matrix[rows], prediction[rows])
        assert by_matrix.observe_matrix(
            "model", matrix[rows], COLUMNS_OF, columns={"ml.prediction": prediction[rows]}
        )
    for engine in (by_columns, by_matrix):
        engine.shutdown()
    assert [w.spans for w in by_matrix_windows] == [700, 700, 700, 400]
    assert _summary(by_matrix, by_matrix_windows) == _summary(by_columns, by_columns_windows)
    f0 = [next(x for x in w.watches if x.watch == "f0") for w in by_matrix_windows]
    assert [x.status for x in f0] == [0, 2, 2, 2]  # the x100 change starts in window 2
    f2 = next(s for s in by_matrix.watch_states() if s.watch.name == "f2")
    assert f2.violations["max"] > 0  # constrained values take the one-by-one path


def test_many_small_batches_equal_one_large_batch() -> None:
    matrix, prediction = _data(1, 1500)
    small, small_windows = _engine()
    large, large_windows = _engine()
    for row in range(1500):
        assert small.observe_matrix(
            "model",
            matrix[row : row + 1],
            COLUMNS_OF,
            columns={"ml.prediction": prediction[row : row + 1]},
        )
    assert large.observe_matrix("model", matrix, COLUMNS_OF, columns={"ml.prediction": prediction})
    for engine in (small, large):
        engine.shutdown()
    assert _summary(small, small_windows) == _summary(large, large_windows)


def test_layouts_spans_and_batches_interleaved_keep_their_order() -> None:
    matrix, prediction = _data(2, 900)
    mixed, mixed_windows = _engine()
    plain, plain_windows = _engine()
    # The same rows as matrix batches of two layouts and as column batches, interleaved.
    for start in range(0, 900, 100):
        rows = slice(start, start + 100)
        if start % 300 == 0:
            _by_columns(mixed, matrix[rows], prediction[rows])
        elif start % 300 == 100:
            assert mixed.observe_matrix(
                "model", matrix[rows], COLUMNS_OF, columns={"ml.prediction": prediction[rows]}
            )
        else:
            reordered = matrix[rows][:, [3, 2, 1, 0]]
            assert mixed.observe_matrix(
                "model",
                reordered,
                {f"ml.input.{name}": 3 - i for i, name in enumerate(FEATURES)},
                columns={"ml.prediction": prediction[rows]},
            )
        _by_columns(plain, matrix[rows], prediction[rows])
    for engine in (mixed, plain):
        engine.shutdown()
    assert _summary(mixed, mixed_windows) == _summary(plain, plain_windows)


def test_the_caller_may_reuse_its_matrix_at_once() -> None:
    matrix, _ = _data(3, 700)
    reused, reused_windows = _engine()
    kept, kept_windows = _engine()
    buffer = np.empty_like(matrix[:100])
    for start in range(0, 700, 100):
        buffer[:] = matrix[start : start + 100]
        assert reused.observe_matrix("model", buffer, COLUMNS_OF)
        buffer[:] = 1e9  # overwritten before the worker ran: must not matter
        assert kept.observe_matrix("model", matrix[start : start + 100], COLUMNS_OF)
    for engine in (reused, kept):
        engine.shutdown()
    assert _summary(reused, reused_windows) == _summary(kept, kept_windows)


def test_value_listeners_see_the_matrix_columns() -> None:
    engine, _ = _engine()
    seen: dict[str, int] = {}
    engine.add_value_listener(
        lambda state, values: seen.__setitem__(
            state.watch.name, seen.get(state.watch.name, 0) + values.size
        )
    )
    matrix, _ = _data(4, 300)
    assert engine.observe_matrix("model", matrix, COLUMNS_OF)
    engine.shutdown()
    # Every numeric watched value, banked or not; f3 is categorical (no numbers).
    assert seen == {"f0": 300, "f1": 300, "f2": 300, "f0_again": 300}


@pytest.mark.parametrize(
    ("matrix", "columns_of", "message"),
    [
        (np.zeros(5), COLUMNS_OF, "2-D numeric matrix"),
        (np.array([["a", "b"]], dtype=object), {"ml.input.f0": 0}, "2-D numeric matrix"),
        (np.zeros((3, 2)), {"ml.input.f0": 5}, "fix the columns_of mapping"),
    ],
)
def test_bad_matrices_are_refused_without_raising(
    matrix: np.ndarray,
    columns_of: dict[str, int],
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, windows = _engine()
    with caplog.at_level(logging.WARNING, logger="otel_drift"):
        assert engine.observe_matrix("model", matrix, columns_of) is False
    assert message in caplog.text
    assert engine.errors == 0
    assert engine.observe_matrix("no-such-model", np.zeros((2, 4)), COLUMNS_OF) is False
    engine.shutdown()
    assert windows == []


def test_a_full_queue_drops_and_counts_the_rows() -> None:
    engine, _ = _engine(queue_size=1)
    engine._worker._stopped = True  # the worker never drains: the queue stays full
    assert engine.observe_matrix("model", np.zeros((10, 4)), COLUMNS_OF)
    assert not engine.observe_matrix("model", np.zeros((7, 4)), COLUMNS_OF)
    assert engine.dropped_by_expectation() == {"model": 7}


def test_threads_and_the_worker_share_the_buffers_without_losing_rows() -> None:
    # A real worker thread draining every millisecond while four threads hand
    # over matrices and overwrite them at once: every row is counted once.
    engine = DriftEngine(loads_expectations(EXPECTATIONS), Settings(flush_interval_s=0.001))
    matrix, _ = _data(5, 64)

    def feed() -> None:
        mine = matrix.copy()
        for _ in range(200):
            assert engine.observe_matrix("model", mine, COLUMNS_OF)
            mine[:] = np.nan  # reuse at once; the engine holds its own copy
            mine[:] = matrix

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.shutdown()
    f0 = next(s for s in engine.watch_states() if s.watch.name == "f0")
    assert f0.total_valid == 4 * 200 * 64
    assert engine.errors == 0 and not engine.dropped_by_expectation()
    # No overwritten (all-NaN) batch got in: NaN only where _data put none.
    f1 = next(s for s in engine.watch_states() if s.watch.name == "f1")
    assert f1.lifetime_histogram is not None and f1.histogram is not None
    nan_per_batch = int(np.isnan(matrix[:, 1]).sum())
    assert f1.lifetime_histogram.nan + f1.histogram.nan == 4 * 200 * nan_per_batch


def test_observed_durations_are_in_the_watch_unit_on_every_path() -> None:
    engine = DriftEngine(
        loads_expectations(
            """
version: 1
expectations:
  - name: calls
    match: {span_name: call}
    watch:
      latency:
        source: span.duration
        unit: ms
        baseline: {bins: [0, 10, 100, 1000], fractions: [0.5, 0.4, 0.1]}
"""
        ),
        Settings(flush_interval_s=3600),
    )
    assert engine.observe("calls", {"latency": np.array([5.0, 50.0])})  # numeric array
    assert engine.observe("calls", {"latency": [5.0, None, 500.0]})  # a list with a gap
    engine.shutdown()
    (state,) = engine.watch_states()
    counts = [count for _label, count, _fraction in state.lifetime_bins()]
    assert counts == [0, 2, 1, 1, 0] and state.total_missing == 1


def test_a_mapping_changed_in_place_is_read_anew() -> None:
    # The layout is found by the mapping's identity, and only used while the
    # mapping still equals the one it was made from.
    engine, _ = _engine()
    columns_of = dict(COLUMNS_OF)
    matrix = np.zeros((10, 4))
    matrix[:, 1] = 1.5
    assert engine.observe_matrix("model", matrix, columns_of)
    columns_of["ml.input.f0"] = 1  # f0 now read from column 1
    assert engine.observe_matrix("model", matrix, columns_of)
    engine.force_flush()
    f0 = next(s for s in engine.watch_states() if s.watch.name == "f0")
    assert f0.total_valid == 20
    counts = [count for _label, count, _fraction in f0.lifetime_bins() if count]
    assert counts == [10, 10]  # 0.0 from column 0, then 1.5 from column 1
    engine.shutdown()


def test_a_bad_mapping_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    engine, _ = _engine()
    with caplog.at_level(logging.WARNING, logger="otel_drift"):
        for _ in range(3):
            # A new (equal) mapping object each call, as a careless caller makes.
            assert not engine.observe_matrix("model", np.zeros((3, 2)), {"ml.input.f0": 5})
    assert caplog.text.count("fix the columns_of mapping") == 1
    engine.shutdown()


def test_large_batches_wake_the_worker_before_its_interval() -> None:
    # The worker runs once ~2 MB of matrices are queued, not only every
    # flush interval (an hour here): their buffers come back while still cached.
    engine, _ = _engine(max_batch_rows=0)
    rows = WAKE_AT_MATRIX_VALUES // 4
    assert engine.observe_matrix("model", np.ones((rows, 4)), COLUMNS_OF)
    deadline = time.monotonic() + 10
    f0 = next(s for s in engine.watch_states() if s.watch.name == "f0")
    while f0.total_valid < rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert f0.total_valid == rows
    engine.shutdown()


@pytest.mark.parametrize("rows", [1000, 1001, 4099])
def test_a_large_batch_is_observed_through_an_evenly_spaced_sample(rows: int) -> None:
    engine, _ = _engine(max_batch_rows=256)
    matrix = np.zeros((rows, 4))
    matrix[:, 0] = np.arange(rows)  # f0 is the row number
    matrix[:, 3] = np.arange(rows) % 3  # category 0, 1, 2, 0, ...
    prediction = np.arange(rows) % 3 % 2  # in step with f3: 1 exactly where f3 is 1
    assert engine.observe_matrix("model", matrix, COLUMNS_OF, columns={"ml.prediction": prediction})
    engine.force_flush()
    states = {s.watch.name: s for s in engine.watch_states()}
    kept = states["f0"].total_valid
    assert 128 < kept <= 256
    assert engine.sampled_out_by_expectation() == {"model": rows - kept}
    # Evenly spaced: f0's lifetime bins span the whole batch, not its head.
    f0_bins = [count for _label, count, _fraction in states["f0"].lifetime_bins()]
    assert f0_bins[-1] >= kept - 2  # rows past 3.0 (all but the first ones)
    # The sampled rows stay aligned across the matrix and the extra column.
    f3 = {label: count for label, count, _fraction in states["f3"].lifetime_bins()}
    predicted = {label: count for label, count, _fraction in states["prediction"].lifetime_bins()}
    assert predicted["1"] == f3["1"] > 0 and predicted["0"] == f3["0"] + f3["2"]
    engine.shutdown()


def test_observe_samples_large_batches_too() -> None:
    engine, _ = _engine(max_batch_rows=100)
    ones = np.ones(1000)
    assert engine.observe("model", {"ml.input.f0": ones, "ml.prediction": [0, 1] * 500})
    engine.force_flush()
    states = {s.watch.name: s for s in engine.watch_states()}
    assert states["f0"].total_valid == states["prediction"].total_valid == 100
    assert engine.sampled_out_by_expectation() == {"model": 900}
    engine.shutdown()
