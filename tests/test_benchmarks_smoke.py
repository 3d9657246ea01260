"""The benchmarks run, at tiny sizes, so that their code cannot rot.

Nothing here asserts a timing: figures are meaningless at these sizes and on
a busy machine. ``./scripts/bench`` is where they are measured.
"""

from __future__ import annotations

import doctest
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from benchmarks import (
    hot_path,
    memory,
    requests,
    requests_inprocess,
    run,
    servers,
    startup,
    window_data,
    window_equal_rate,
    window_power,
    window_tests,
)
from benchmarks.common import (
    Section,
    bootstrap,
    interleave,
    judge,
    judge_interval,
    spread,
    table,
)
from tests.web.servers import require


def _check(section: Section) -> None:
    assert section.title
    assert section.markdown.strip()
    assert "| ---" in section.markdown or "skipped" in section.markdown
    for name, value in section.figures.items():
        assert isinstance(value, float), name


def test_hot_path() -> None:
    section = hot_path.run(quick=True)
    _check(section)
    assert "added" in section.markdown
    assert math.isfinite(section.figures["added % per span, 2 watched values"])


def test_memory() -> None:
    section = memory.run(quick=True)
    _check(section)
    # The category cap holds whatever the size.
    assert section.figures["tracked categories after the distinct values"] <= 1000


def test_startup() -> None:
    _check(startup.run(quick=True))
    assert doctest.testmod(startup).failed == 0


def test_requests() -> None:
    runnable = [s for s in servers.SERVERS if not servers.missing(s)]
    if not runnable:
        pytest.skip("no server stack installed (gunicorn/flask, uvicorn/fastapi)")
    section = requests.run(quick=True)
    _check(section)
    assert len([k for k in section.figures if k.startswith("added")]) == len(runnable)


def test_requests_inprocess() -> None:
    for framework in requests_inprocess.FRAMEWORKS:
        for module in framework.needs:
            require(module)  # a failure under CI=true, else a skip
    section = requests_inprocess.run(quick=True)
    _check(section)
    for framework in requests_inprocess.FRAMEWORKS:
        added = section.figures[f"requests_inprocess_added_pct_{framework.short}"]
        assert math.isfinite(added)
        assert section.figures[f"requests_inprocess_otel_us_{framework.short}"] > 0


def test_window_tests_judge_steady_and_shifted_windows() -> None:
    """The window-test harness drives the real judging: a steady window stays ok
    for every method, latency x1.5 is critical for the significance methods and
    flagged by NannyML's rule too."""
    for module in (window_data, window_equal_rate, window_power, window_tests):
        assert doctest.testmod(module).failed == 0
    rng = np.random.default_rng(11)
    draw = window_data.latency()
    reference = draw(rng, 20_000)
    judge = window_data.Judge("numeric", reference, 1000)
    assert sorted(judge.states) == sorted(window_data.methods_for("numeric"))
    steady = judge.window(draw(rng, 1000))
    assert {m: e.level for m, e in steady.items()} == dict.fromkeys(steady, 0)
    judge.reset()
    shifted = judge.window(window_data.latency(1.5)(rng, 1000))
    assert shifted["ks"].level == shifted["chi_square"].level == shifted["psi"].level == 2
    nannyml = window_power.NannyML(reference, "numeric", 1000)
    assert nannyml.threshold > 0
    assert nannyml.drifted(window_data.latency(1.5)(rng, 1000))
    labels = window_data.categories(window_data.STATUS, window_data.status_shares())(rng, 20_000)
    errors = window_data.Judge("categorical", labels, 1000)
    spike = window_data.categories(window_data.STATUS, window_data.status_shares(0.1))
    assert errors.window(spike(rng, 1000))["chi_square"].level == 2


def test_equal_rate_calibrates_the_gate_p_value_on_steady_windows() -> None:
    """Our p-values, thresholded where they false-alarm as often as a peer on the
    same steady windows, never exceed that rate, and find a real shift."""
    rng = np.random.default_rng(5)
    draw = window_data.latency()
    judge = window_data.Judge("numeric", draw(rng, 20_000), 1000)
    statistics: dict[str, dict[str, list[float]]] = {}
    for label, scale in (("steady", 1.0), ("x1.3", 1.3)):
        judge.reset()
        found: dict[str, list[float]] = {}
        for index in range(20):
            evaluations = judge.window(window_data.latency(scale)(rng, 1000))
            alone = judge.alone_p_value()
            # The gate's p-value: the window's own on a sequence's first window,
            # then the smaller of alone and pooled with the one before, doubled.
            gate = evaluations["psi"].p_value
            assert gate is not None
            assert gate == alone if index == 0 else gate <= min(1.0, 2 * alone)
            found.setdefault(window_equal_rate.GATE, []).append(-gate)
            found.setdefault(window_equal_rate.ALONE, []).append(-alone)
            found.setdefault("score: psi", []).append(evaluations["psi"].score or 0.0)
        statistics[label] = found
    # Steady windows: no p-value near the levels (1e-6).
    assert max(statistics["steady"][window_equal_rate.ALONE]) < -1e-3
    cell = window_equal_rate.cell(
        "latency x1.3",
        1000,
        steady=statistics["steady"],
        changed=statistics["x1.3"],
        peers={"nannyml": (50.0, 10.0), "evidently": (100.0, 0.0)},
        steady_windows=20,
    )
    for peer, (_, rate) in cell.peers.items():
        for name, calibrated in cell.ours[peer].items():
            # At most the peer's rate; one window (the floor) where it flagged none.
            assert calibrated.false_alarms <= max(rate, 0.0 if "no floor" in name else 5.0)
    assert cell.ours["nannyml"][window_equal_rate.GATE].power == 100.0
    assert cell.wins("nannyml", window_equal_rate.GATE)
    markdown, figures = window_equal_rate.report([cell], 20)
    assert figures["win_equal_rate_gate_p_cells_won_nannyml"] == 1.0
    assert any(line.startswith("Target:") for line in markdown)


def test_runner_writes_results(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    assert run.main(["--quick", "--only", "memory", "--output", str(output)]) == 0
    text = output.read_text()
    assert text.startswith("# otel-drift benchmarks")
    assert "Quick mode" in text
    assert "## Memory" in text
    assert "Headline figures" in text
    assert doctest.testmod(run).failed == 0


def test_runner_reports_missing_sections() -> None:
    outcome = run.run_section("not_a_section", quick=True)
    assert outcome.section is None
    assert "does not exist" in outcome.note
    assert not outcome.failed


def test_helpers() -> None:
    calls: list[str] = []

    def arm(name: str, value: float) -> Callable[[], float]:
        def measure() -> float:
            calls.append(name)
            return value

        return measure

    results = interleave({"a": arm("a", 1.0), "b": arm("b", 2.0)}, rounds=2, warmup=1)
    # The order flips every round; the warm-up round is measured but dropped.
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert results == {"a": [1.0, 1.0], "b": [2.0, 2.0]}
    assert spread([3.0, 1.0, 2.0]).fmt(1) == "2.0 (1.0–3.0)"
    assert table(["x", "y"], [["1", "2"]]).splitlines()[1] == "| :--- | ---: |"


def test_judge_says_when_rounds_cannot_tell() -> None:
    assert judge(spread([1.0, 1.5, 2.0]), 2.0) == "+1.5 %, met"
    assert "not resolved" in judge(spread([-10.0, 1.0, 12.0]), 2.0)
    assert "not met" in judge(spread([3.0, 3.5, 4.0]), 2.0)


def test_bootstrap_interval_and_its_verdict() -> None:
    samples = [1.0, 1.2, 0.8, 1.1, 0.9, 1.0, 1.05, 0.95]
    interval = bootstrap(samples)
    assert interval.low <= interval.value == 1.0 <= interval.high
    assert interval.runs == len(samples) and interval == bootstrap(samples)  # seeded
    assert "not resolved" not in judge_interval(interval, 2.0)
    assert judge_interval(interval, 2.0).endswith(": met")
    assert judge_interval(bootstrap([3.0, 3.5, 4.0, 3.2]), 2.0).endswith("**not met**")
    assert "straddles" in judge_interval(bootstrap([-1.0, 1.0, 3.0, 5.0]), 2.0)
    assert "one round" in judge_interval(bootstrap([1.0]), 2.0)


def test_server_cpu_clock_counts_a_child_in_nanoseconds() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sum(range(3_000_000)); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        used = None
        for _ in range(100):
            used = servers.process_cpu_ns(child.pid)
            if used is None or used > 10_000_000:
                break
            time.sleep(0.05)
        if used is None:
            pytest.skip("no per-process CPU clocks here")
        assert used > 10_000_000
        assert servers.session_pids(child.pid) == [child.pid]
    finally:
        child.kill()
        child.wait()


def test_pinning_is_undone() -> None:
    split = servers.cpu_split()
    if split is None:
        pytest.skip("fewer than two CPUs")
    before = os.sched_getaffinity(0)
    with servers.pinned(split[0]):
        assert os.sched_getaffinity(0) == split[0]
    assert os.sched_getaffinity(0) == before
