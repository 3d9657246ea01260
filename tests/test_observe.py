"""The vectorized path: whole arrays handed to an expectation, windows split exactly."""

from __future__ import annotations

import numpy as np

from otel_drift import DriftEngine, Settings, WindowEvaluation, loads_expectations

MODEL_EXPECTATIONS = """
version: 1
expectations:
  - name: credit-model
    match: {span_name: predict}
    window: {spans: 1000}
    min_samples: 500
    watch:
      income:
        attribute: feature.income
        baseline:
          quantiles:
            {0.0: -4, 0.1: -1.2816, 0.25: -0.6745, 0.5: 0, 0.75: 0.6745, 0.9: 1.2816, 1.0: 4}
        method: psi
      segment:
        attribute: feature.segment
        baseline: {categories: {a: 0.5, b: 0.3, c: 0.2}}
        constraints: {allowed: [a, b, c]}
"""


def _engine() -> tuple[DriftEngine, list[WindowEvaluation]]:
    engine = DriftEngine(loads_expectations(MODEL_EXPECTATIONS), Settings(flush_interval_s=3600))
    windows: list[WindowEvaluation] = []
    engine.add_listener(windows.append)
    return engine, windows


def _segments(rng: np.random.Generator, n: int, p: list[float]) -> np.ndarray:
    return rng.choice(np.array(["a", "b", "c"]), size=n, p=p)


def test_batches_fill_windows_exactly_and_find_the_unit_change() -> None:
    engine, windows = _engine()
    rng = np.random.default_rng(0)
    # 1,500 steady rows in batches of 300, then 1,200 after a x100 unit change on income.
    for _ in range(5):
        assert engine.observe(
            "credit-model",
            {
                "feature.income": rng.normal(size=300),
                "segment": _segments(rng, 300, [0.5, 0.3, 0.2]),
            },
        )
    for _ in range(4):
        assert engine.observe(
            "credit-model",
            {"income": rng.normal(size=300) * 100, "segment": _segments(rng, 300, [0.5, 0.3, 0.2])},
        )
    assert engine.force_flush()
    assert [w.spans for w in windows] == [1000, 1000, 700]
    assert [w.partial for w in windows] == [False, False, True]
    income = [next(x for x in w.watches if x.watch == "income") for w in windows]
    segment = [next(x for x in w.watches if x.watch == "segment") for w in windows]
    assert income[0].status == 0
    assert income[1].status == 2  # the window that holds the change
    assert income[2].status == 2
    assert all(s.status == 0 for s in segment)
    engine.shutdown()


def test_missing_column_and_renamed_category_are_counted() -> None:
    engine, windows = _engine()
    rng = np.random.default_rng(1)
    renamed = _segments(rng, 1000, [0.5, 0.3, 0.2])
    renamed[renamed == "c"] = "C"  # a category renamed upstream
    assert engine.observe("credit-model", {"segment": renamed})
    assert engine.force_flush()
    (window,) = windows
    income = next(x for x in window.watches if x.watch == "income")
    segment = next(x for x in window.watches if x.watch == "segment")
    assert income.missing == 1000 and income.samples == 0 and income.score is None
    assert segment.status == 2
    states = {s.watch.name: s for s in engine.watch_states()}
    assert states["segment"].violations["allowed"] == int(np.sum(renamed == "C"))
    engine.shutdown()


def test_bad_calls_never_raise() -> None:
    engine, _ = _engine()
    assert not engine.observe("no-such-model", {"income": [1.0]})
    assert not engine.observe(
        "credit-model", {"income": np.zeros(3), "segment": np.array(["a", "b"])}
    )
    # A lone object is one row of one invalid value, not an error.
    assert engine.observe("credit-model", {"income": object()})  # type: ignore[dict-item]
    assert engine.observe("credit-model", {"income": [1.0, None, "x", float("nan")]})
    assert engine.force_flush()
    income = next(s for s in engine.watch_states() if s.watch.name == "income")
    # NaN is a number (the histogram counts it apart); "x" and the object are not.
    assert (income.total_valid, income.total_missing, income.total_invalid) == (2, 1, 2)
    engine.shutdown()
