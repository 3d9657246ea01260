"""``otel-drift validate --explain``: false-alarm rates and smallest changes, as the engine judges.

The file is a real one: a lognormal latency (median 40 ms, sigma 0.5) binned
at the deciles of a 100,000-value draw, and a 97/2/1 status mix. The
simulated verdicts must be the engine's own: :class:`Judge` is checked
window by window against ``WatchState.finish_window``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from otel_drift._internal.cli.explain import NULL_WINDOWS, Judge, explain_watch
from otel_drift._internal.cli.main import main
from otel_drift._internal.detectors import METHODS
from otel_drift._internal.engine.watch_state import WatchState
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import BinnedBaseline, CategoricalBaseline

STATUS = {"200": 0.97, "404": 0.02, "500": 0.01}


def _latency_baseline() -> dict[str, object]:
    draw = np.random.default_rng(42).lognormal(np.log(40.0), 0.5, 100_000)
    edges = np.quantile(draw, np.linspace(0.0, 1.0, 11)).round(2)
    counts = np.histogram(draw, edges)[0]
    fractions = (counts / counts.sum()).round(6)
    fractions[-1] = round(1.0 - fractions[:-1].sum(), 6)
    return {"bins": edges.tolist(), "fractions": fractions.tolist(), "samples": 100_000}


def _write(tmp_path: Path, window: dict[str, object], method: str | None = None) -> Path:
    latency: dict[str, object] = {
        "source": "span.duration",
        "unit": "ms",
        "baseline": _latency_baseline(),
    }
    status: dict[str, object] = {
        "attribute": "http.response.status_code",
        "baseline": {"categories": STATUS, "samples": 100_000},
    }
    if method is not None:
        latency["method"] = method
        if METHODS[method].categorical:
            status["method"] = method
    document = {
        "version": 1,
        "expectations": [
            {
                "name": "checkout",
                "match": {"span_kind": "server", "attributes": {"http.route": "/checkout"}},
                "window": window,
                "watch": {"latency": latency, "status": status},
            }
        ],
    }
    path = tmp_path / "expectations.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _explain(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    assert main(["validate", "--explain", *arguments]) == 0
    return capsys.readouterr().out


def _factor(text: str, level: str) -> float:
    found = re.search(
        rf"checkout\.latency:.*?reaching {level}: +a [\d.]+ % latency increase \(x([\d.]+)\)",
        text,
        re.S,
    )
    assert found, text
    return float(found.group(1))


def test_defaults_explained_at_windows_of_1000(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, {"spans": 1000})
    text = _explain(capsys, str(path))
    assert "checkout.latency: psi, warning 0.05, critical 0.1 (the method's defaults); " in text
    assert "windows of 1,000 values (window.spans)" in text
    # No false alarm of either level in the simulated stationary windows; the
    # rate shown is then the significance gate's, in words at one window a minute.
    assert text.count(f"(none in {NULL_WINDOWS} simulated windows;") == 4
    assert "false warnings: <= 1e-06 a window" in text
    assert "about one every 1.9 years at one window a minute" in text
    warning, critical = _factor(text, "warning"), _factor(text, "critical")
    assert 1.02 < warning <= critical < 1.5
    share = re.search(r"reaching critical: 500: 1\.0% -> ([\d.]+)%", text)
    assert share, text
    assert 1.0 < float(share.group(1)) < 20.0
    assert "+-7% at 95 %" in text


def test_bigger_windows_catch_smaller_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, {"spans": 1000})
    small = _explain(capsys, "--window-values", "100", str(path))
    large = _explain(capsys, "--window-values", "10000", str(path))
    assert "windows of 100 values (--window-values)" in small
    assert _factor(large, "warning") < _factor(small, "warning")
    assert _factor(large, "critical") < _factor(small, "critical")


def test_time_window_assumes_a_size_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, {"seconds": 60})
    text = _explain(capsys, str(path))
    assert "a 60 s window: n unknown, assumed 1,000; set it with --window-values N" in text


@pytest.mark.parametrize("method", ["hellinger", "ks", "chi_square"])
def test_other_methods_quiet_and_sensitive(tmp_path: Path, method: str) -> None:
    loaded = load_expectations(_write(tmp_path, {"spans": 1000}, method=method))
    for watch in loaded.expectations[0].watch:
        if watch.method == method:
            explained = explain_watch(watch, 1000)
            assert explained.false_critical.seen == 0
            assert explained.false_warning.seen <= 1
            assert explained.warning_change.magnitude is not None


def test_cusum_simulated_on_raw_values(tmp_path: Path) -> None:
    loaded = load_expectations(_write(tmp_path, {"spans": 1000}, method="cusum"))
    latency = next(w for w in loaded.expectations[0].watch if w.name == "latency")
    explained = explain_watch(latency, 1000)
    assert explained.false_critical.seen == 0
    assert "95 % upper bound" in explained.false_critical.basis
    assert "latency increase" in explained.warning_change.text


def test_judge_gives_the_engines_levels(tmp_path: Path) -> None:
    """Judge.window_level equals WatchState.finish_window's level and p-value pooling,
    window after window, for every method with a p-value or a gate."""
    rng = np.random.default_rng(7)
    for method in ("psi", "jensen_shannon", "hellinger", "linf", "wasserstein", "chi_square", "ks"):
        loaded = load_expectations(_write(tmp_path, {"spans": 200}, method=method))
        expectation = loaded.expectations[0]
        for watch in expectation.watch:
            if watch.method != method:
                continue
            judge = Judge(watch)
            state = WatchState(expectation, watch, 100)
            previous = None
            levels = []
            for i in range(60):
                shares = judge.expected.copy()
                if i % 3:  # move mass towards the last known bin or category, by varying amounts
                    moved = 0.05 * (i % 7)
                    shares = shares * (1 - moved)
                    shares[-2] += moved
                counts = rng.multinomial(200, shares / shares.sum()).astype(np.float64)
                if isinstance(watch.baseline, BinnedBaseline):
                    assert state.histogram is not None
                    state.histogram.add_slot_counts(np.append(counts, 0).astype(np.int64))
                    state.count_binned(200)
                else:
                    assert isinstance(watch.baseline, CategoricalBaseline)
                    labels = [*watch.baseline.categories, "__other__"]
                    state.add_labels(np.repeat(labels, counts.astype(int)).tolist(), 0, 0)
                engine = state.close_window()
                material = int(judge.material(counts[None, :])[0])
                mine = judge.window_level(material, counts, previous)
                assert mine == engine.level, (method, watch.name, i)
                for target in (1, 2):
                    if previous is not None:
                        reached = judge.reaches(target, material, counts, previous)
                        assert reached == (mine >= target), (method, watch.name, i, target)
                levels.append(mine)
                previous = counts
            assert max(levels) > 0, (method, watch.name)  # the check saw raised levels


def test_invalid_file_reports_as_without_explain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: 1\nexpectations:\n  - name: x\n    match: {}\n    watch:\n      latency:\n"
        "        source: span.duration\n        baseline: {bins: [0, 10, 20], fractions: [1.0]}\n"
    )
    plain = main(["validate", str(path)])
    plain_out = capsys.readouterr()
    explained = main(["validate", "--explain", str(path)])
    explained_out = capsys.readouterr()
    assert plain == explained == 1
    assert explained_out.err == plain_out.err
    assert "fractions" in explained_out.err and str(path) in explained_out.err
    assert explained_out.out == ""
