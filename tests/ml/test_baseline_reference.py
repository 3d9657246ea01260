"""``otel-drift baseline --window N``: the recording's own windows, scored out of sample
against the baseline built from it, written as ``reference:`` for learned thresholds.

The figures are checked against the engine itself: the same rows fed live in windows
of N score no higher than the reference says (the engine's windows are part of the
baseline they are judged against; the reference's are not, and it also scores the
windows that start a quarter, a half and three quarters of a window later)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from otel_drift import DriftEngine, Settings, load_expectations, loads_expectations
from otel_drift._internal.cli.main import main
from otel_drift._internal.detectors import evaluate
from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.learn.reference import WindowScores, has_window_score

ROWS = 10_000
WINDOW = 1000


def _recording(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Latency whose level moves with load (as real traffic does), a status mix, a flag."""
    rng = np.random.default_rng(11)
    load = np.repeat(rng.normal(0, 0.1, ROWS // 500), 500)  # drifts slowly, window to window
    columns = {
        "latency": np.round(rng.lognormal(np.log(40) + load, 0.5), 3),
        "status": rng.choice(np.array([200.0, 404.0, 500.0]), ROWS, p=[0.97, 0.02, 0.01]),
        "slow": rng.random(ROWS) < 0.2,
    }
    rows = zip(*(columns[name].tolist() for name in columns), strict=True)
    lines = [",".join(columns), *(",".join(map(repr, row)) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return columns


def _run(data: Path, out: Path, *extra: str) -> int:
    argv = ["baseline", str(data), "-o", str(out), "--name", "svc", "--no-progress"]
    return main([*argv, "--categorical", "status", *extra])


def test_reference_block_is_what_the_engine_scores_on_the_same_windows(tmp_path: Path) -> None:
    data, out = tmp_path / "rec.csv", tmp_path / "e.yaml"
    columns = _recording(data)
    assert _run(data, out, "--window", str(WINDOW)) == 0
    raw = yaml.safe_load(out.read_text())["expectations"][0]
    assert raw["window"] == {"spans": WINDOW}
    for name in ("latency", "status", "slow", "latency.missing"):
        entry = raw["watch"][name]
        reference = entry["baseline"]["reference"]
        assert reference["window"] == WINDOW and reference["windows"] == ROWS // WINDOW
        assert reference["method"] == entry["method"]
        # Thresholds are learned from the block, not written, unless the scores never
        # varied (latency is never missing: every window scores 0).
        learned = name != "latency.missing"
        assert ("warning" not in entry and "critical" not in entry) == learned
    assert raw["watch"]["latency.missing"]["baseline"]["reference"]["max"] == 0

    file = load_expectations(out)
    engine = DriftEngine(file, Settings(flush_interval_s=3600))
    windows: list[WindowEvaluation] = []
    engine.add_listener(windows.append)
    fed: dict[str, np.ndarray[Any, Any]] = {"latency": columns["latency"], "slow": columns["slow"]}
    fed["status"] = columns["status"].astype(int)  # live codes are ints: "200" either way
    fed["latency.missing"] = np.zeros(ROWS)
    for start in range(0, ROWS, 700):  # batches that straddle windows
        assert engine.observe("svc", {k: v[start : start + 700] for k, v in fed.items()})
    assert engine.force_flush()
    engine.shutdown()
    assert len(windows) == ROWS // WINDOW
    for name in ("latency", "status", "slow"):
        scores = np.array(
            [w.score for window in windows for w in window.watches if w.watch == name]
        )
        reference = raw["watch"][name]["baseline"]["reference"]
        assert reference["max"] >= float(f"{scores.max():.4g}"), (name, reference, scores)
        if name == "latency":  # load moves it: out of sample, its windows score higher
            assert reference["mean"] > scores.mean(), (reference, scores)
    latency = raw["watch"]["latency"]["baseline"]["reference"]
    assert 0 < latency["mean"] < latency["max"] and latency["std"] > 0
    assert 0 < latency["root_mean"] ** 2 <= latency["mean"]  # psi: its roots' spread too
    assert raw["watch"]["latency.missing"]["baseline"]["reference"]["mean"] == 0


def test_each_window_is_scored_against_the_baseline_without_its_neighbourhood() -> None:
    text = """
version: 1
expectations:
  - name: m
    match: {span_name: p}
    watch:
      x: {attribute: x, method: jensen_shannon, baseline: {categories: {a: 0.5, b: 0.5}}}
"""
    (watch,) = loads_expectations(text).expectations[0].watch
    scores = WindowScores(watch, window=4, min_samples=1)
    rows = np.array(["a"] * 8 + ["b"] * 8 + ["a", "b"] * 4, dtype=object)
    scores.add(rows)
    found, windows = scores.scores()
    assert windows == 6 and len(found) == 21  # every offset of a 4-row window in 24 rows
    # The window of rows 8-11 (all "b"): rows 4-15 (4 a, 8 b) taken out of the baseline's
    # 24 x 0.5 each, then one window's worth (4) of the baseline added back.
    held = np.array([12 - 4 + 2, 12 - 8 + 2, 0.0])
    expected = held / held.sum()
    assert found[8] == pytest.approx(
        float(evaluate("jensen_shannon", expected, np.array([0.0, 4.0, 0.0])).score)
    )
    # Rows left out of the sequence (follows=False) start a run of their own.
    apart = WindowScores(watch, window=4, min_samples=1)
    apart.add(rows[:16])
    apart.add(rows[16:], follows=False)
    assert apart.scores()[1] == 6 and len(apart.scores()[0]) == 13 + 5


def test_too_few_windows_writes_no_reference_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "rec.csv", tmp_path / "e.yaml"
    _recording(data)
    assert _run(data, out, "--window", "2500") == 0  # 4 windows
    assert "no reference windows: 10,000 rows make 4 windows of --window 2,500" in (
        capsys.readouterr().err
    )
    raw = yaml.safe_load(out.read_text())["expectations"][0]
    assert raw["window"] == {"spans": 2500}
    latency = raw["watch"]["latency"]
    assert "reference" not in latency["baseline"] and latency["warning"] > 0


def test_windows_short_of_min_samples_are_not_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "rec.csv", tmp_path / "e.yaml"
    _recording(data)
    lines = data.read_text().splitlines()
    # Latency missing in 95 % of rows: 50 values per window of 1000, under --min-samples 200.
    blanked = [lines[0]] + [
        ("," + line.split(",", 1)[1]) if i % 20 else line for i, line in enumerate(lines[1:])
    ]
    data.write_text("\n".join(blanked) + "\n")
    assert _run(data, out) == 0
    assert "no reference windows for latency:" in capsys.readouterr().err
    raw = yaml.safe_load(out.read_text())["expectations"][0]
    assert "reference" not in raw["watch"]["latency"]["baseline"]
    assert "reference" in raw["watch"]["latency.missing"]["baseline"]


def test_prediction_windows_come_from_the_models_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "ref_models.py"
    module.write_text(
        textwrap.dedent(
            """
            import numpy as np

            class Scorer:
                def predict(self, rows):
                    return np.asarray(rows)[:, 0] * 2.0

            class Classifier:
                def predict(self, rows):
                    return np.where(np.asarray(rows)[:, 0] > 45, "slow", "fast")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "rec.csv"
    _recording(data)
    for model, kind in (("Scorer", "bins"), ("Classifier", "categories")):
        out = tmp_path / f"{model}.yaml"
        args = ["--features", "latency", "--model", f"ref_models:{model}", "--chunk-rows", "3000"]
        assert _run(data, out, *args) == 0
        prediction = yaml.safe_load(out.read_text())["expectations"][0]["watch"]["prediction"]
        assert kind in prediction["baseline"]
        reference = prediction["baseline"]["reference"]
        assert reference["windows"] == ROWS // WINDOW and reference["max"] > 0


def test_cusum_has_no_window_score() -> None:
    text = """
    version: 1
    expectations:
      - name: m
        match: {span_name: p}
        watch:
          x: {attribute: x, baseline: {bins: [0, 1, 2], fractions: [0.5, 0.5]}, method: cusum}
          y: {attribute: y, baseline: {categories: {a: 1.0}}}
    """
    x, y = loads_expectations(textwrap.dedent(text)).expectations[0].watch
    assert not has_window_score(x) and has_window_score(y)
    scores = WindowScores(y, window=10, min_samples=1)
    scores.add(np.array(["a"] * 40 + [None] * 10 + ["b"] * 10, dtype=object))
    block = scores.block()
    # Six windows; the one of missing values only is not scored (as the engine skips it).
    assert block is not None and block["windows"] == 5
    assert block["max"] > 0 and block["mean"] == pytest.approx(block["max"] / 5, rel=1e-3)
