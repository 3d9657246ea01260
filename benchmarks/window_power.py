"""Detection power on the same windows as Evidently's and NannyML's defaults.

Against a 100,000-value reference: latency (lognormal, median 40 ms, sigma
0.5) multiplied by 1.1 and 1.3, and the 5xx share of a 97/2/0.7/0.3 % status
mix raised from 1 % by 1 and 5 points, in windows of 100, 1,000 and 10,000
values; the steady stream is run too, on the same footing, for each
detector's own false-alarm rate. Windows come in sequences of
:data:`SEQUENCE`, each started afresh (hysteresis and CUSUM at zero), so that
"windows to the first critical" is measured as a change would meet it. The
steady stream gets :data:`FULL_STEADY_SEQUENCES` sequences (1,500 windows),
enough to measure a peer's false-alarm rate down to a few per thousand.

Two views. At the defaults (what a user gets): every detector at its own
operating point, ours about 1e-6 false alarms a window, the peers' anywhere
from 0 to 68 %; the verdict there compares settings as much as statistics.
At an equal false-alarm rate (what the statistic can do, and how the target
is judged): ours thresholded on the same steady windows to each peer's rate
(``window_equal_rate.py``).

The peers see exactly the windows we see:

* Evidently, through its legacy stattests as ``DataDriftPreset`` picks them
  per column (with more than 1,000 reference rows: the Wasserstein distance
  normed by the reference's standard deviation, or Jensen-Shannon, both at
  0.1), when installed (the benchmark venv).
* NannyML's univariate drift defaults, re-implemented here in numpy (the
  package is not installed): Jensen-Shannon distance (base 2) for
  continuous columns on Doane bins of the reference and for categorical
  ones on the reference's categories, a leftover bin for what falls
  outside; the alert threshold is the mean plus 3 standard deviations of the
  scores of the reference's own chunks of the window's size, as its
  ``StandardDeviationThreshold`` does.
"""

from __future__ import annotations

import importlib
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks import window_equal_rate
from benchmarks.common import table
from benchmarks.window_data import (
    GATE,
    STATUS,
    Draw,
    Judge,
    Kind,
    categories,
    latency,
    methods_for,
    status_shares,
)
from otel_drift._internal.engine.watch_state import WatchEvaluation

REFERENCE = 100_000
WINDOWS = (100, 1000, 10_000)
#: Windows per sequence, and sequences per cell (full run, quick run).
SEQUENCE = 10
FULL_SEQUENCES = 30
QUICK_SEQUENCES = 1
QUICK_SEQUENCE = 2
#: Sequences of the steady stream (full run, quick run): its false-alarm rates
#: set the equal-rate comparison, so it gets more windows than the changes.
FULL_STEADY_SEQUENCES = 150
QUICK_STEADY_SEQUENCES = 2
STEADY = "steady"
HEADLINE = ("psi", "evidently", "nannyml")


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: Kind
    #: (label, draw): the steady stream first, then the changes.
    changes: tuple[tuple[str, Draw], ...]


SCENARIOS = (
    Scenario(
        "latency",
        "numeric",
        ((STEADY, latency()), ("×1.1", latency(1.1)), ("×1.3", latency(1.3))),
    ),
    Scenario(
        "errors",
        "categorical",
        (
            (STEADY, categories(STATUS, status_shares())),
            ("+1 pt", categories(STATUS, status_shares(0.01))),
            ("+5 pts", categories(STATUS, status_shares(0.05))),
        ),
    ),
)


def _peer(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class Evidently:
    """Evidently's per-column default test (``DataDriftPreset``'s choice) on the reference."""

    def __init__(self, reference: NDArray[Any], kind: Kind) -> None:
        pandas = _peer("pandas")
        stattests = _peer("evidently.legacy.calculations.stattests")
        core = _peer("evidently.legacy.core")
        self.ready = pandas is not None and stattests is not None and core is not None
        self.about = "Evidently: not installed"
        if pandas is None or stattests is None or core is None:
            return
        self.series: Any = pandas.Series
        self.reference: Any = pandas.Series(reference)
        self.feature: Any = (
            core.ColumnType.Numerical if kind == "numeric" else core.ColumnType.Categorical
        )
        self.get_stattest: Any = stattests.get_stattest
        self.test: Any = None

    def drifted(self, window: NDArray[Any]) -> bool:
        current = self.series(window)
        if self.test is None:
            # The choice depends on the sizes and the distinct values only: once per column.
            self.test = self.get_stattest(self.reference, current, self.feature, None)
        result = self.test(self.reference, current, self.feature, None)
        relation = "p <" if self.test.name in ("ks", "chisquare", "z") else ">="
        self.about = (
            f"Evidently default: {self.test.display_name} {relation} {result.actual_threshold:g}"
        )
        return bool(result.drifted)


class NannyML:
    """NannyML's univariate drift default, re-implemented: JS distance > mean + 3 std
    of the reference chunks' own scores (chunks of the window's size)."""

    about = "NannyML default (re-implemented): Jensen-Shannon > mean + 3σ of reference chunks"

    def __init__(self, reference: NDArray[Any], kind: Kind, window: int) -> None:
        self.kind = kind
        if kind == "numeric":
            self.edges = np.histogram_bin_edges(reference.astype(np.float64), bins="doane")
        else:
            self.names = np.unique(reference)
        self.expected = self._shares(reference)
        chunks = reference[: reference.size // window * window].reshape(-1, window)
        scores = np.array([self.score(chunk) for chunk in chunks])
        self.threshold = float(np.mean(scores) + 3.0 * np.std(scores))

    def _shares(self, values: NDArray[Any]) -> NDArray[np.float64]:
        if self.kind == "numeric":
            counts = np.histogram(values, bins=self.edges)[0]
        else:
            seen, found = np.unique(values, return_counts=True)
            by_name = dict(zip(seen.tolist(), found.tolist(), strict=True))
            counts = np.array([by_name.get(name, 0) for name in self.names.tolist()])
        return np.asarray(counts / values.size, dtype=np.float64)

    def score(self, values: NDArray[Any]) -> float:
        observed = self._shares(values)
        expected = self.expected
        leftover = 1.0 - observed.sum()
        if leftover > 0:
            observed = np.append(observed, leftover)
            expected = np.append(expected, 0.0)
        return js_distance(expected, observed)

    def drifted(self, window: NDArray[Any]) -> bool:
        return self.score(window) > self.threshold


def js_distance(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    """Jensen-Shannon distance, base 2 (``scipy.spatial.distance.jensenshannon``).

    >>> round(js_distance(np.array([0.5, 0.5]), np.array([0.9, 0.1])), 4)
    0.3831
    """
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0

    def kl(a: NDArray[np.float64]) -> float:
        used = a > 0
        return float(np.sum(a[used] * np.log2(a[used] / m[used])))

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2.0)))


@dataclass
class Rates:
    """One detector in one (change, window) cell."""

    windows: int = 0
    warning: int = 0
    critical: int = 0
    #: Per sequence: the 1-based window of the first critical (None: none).
    first: list[int | None] = field(default_factory=list)

    def pct(self, level: int) -> float:
        return 100.0 * (self.warning if level == 1 else self.critical) / max(self.windows, 1)

    def latency(self) -> str:
        reached = sorted(f if f is not None else 10**9 for f in self.first)
        if not reached:
            return "–"
        middle = statistics.median_low(reached)
        return "–" if middle == 10**9 else f"{middle}"


@dataclass
class Power:
    markdown: list[str]
    figures: dict[str, float]


@dataclass
class Cell:
    """Every detector's rates in one (change, window) cell, and our statistics per
    window (``window_equal_rate``: larger means more drift)."""

    rates: dict[str, Rates]
    statistics: dict[str, list[float]]


def _statistics(judge: Judge, evaluations: dict[str, WatchEvaluation]) -> dict[str, float]:
    gate = evaluations[GATE].p_value
    found = {
        window_equal_rate.GATE: -(1.0 if gate is None else gate),
        window_equal_rate.ALONE: -judge.alone_p_value(),
    }
    for method, evaluation in evaluations.items():
        score = evaluation.score
        found[window_equal_rate.SCORE + method] = -math.inf if score is None else score
    return found


def _run_cell(
    judge: Judge,
    peers: dict[str, Callable[[NDArray[Any]], bool]],
    draw: Draw,
    *,
    window: int,
    sequences: int,
    length: int,
    rng: np.random.Generator,
) -> Cell:
    rates = {name: Rates() for name in [*judge.states, *peers]}
    statistics: dict[str, list[float]] = {}
    for _ in range(sequences):
        judge.reset()
        first: dict[str, int | None] = dict.fromkeys(rates)
        for index in range(1, length + 1):
            values = draw(rng, window)
            evaluations = judge.window(values)
            for name, value in _statistics(judge, evaluations).items():
                statistics.setdefault(name, []).append(value)
            levels = {m: e.level for m, e in evaluations.items()}
            levels.update({name: 2 * peer(values) for name, peer in peers.items()})
            for name, level in levels.items():
                rate = rates[name]
                rate.windows += 1
                rate.warning += level >= 1
                rate.critical += level == 2
                if level == 2 and first[name] is None:
                    first[name] = index
        for name, reached in first.items():
            rates[name].first.append(reached)
    return Cell(rates, statistics)


def measure(quick: bool, rng: np.random.Generator) -> Power:
    """Every scenario, window and change; the tables and verdicts."""
    sequences = QUICK_SEQUENCES if quick else FULL_SEQUENCES
    steady_sequences = QUICK_STEADY_SEQUENCES if quick else FULL_STEADY_SEQUENCES
    length = QUICK_SEQUENCE if quick else SEQUENCE
    markdown = [
        f"### Detection power against a {REFERENCE:,}-value reference",
        "",
        f"{sequences} sequences of {length} windows per changed cell and {steady_sequences} "
        "for the steady stream, each sequence started afresh; every detector sees the same "
        "windows. Two views: each detector at its defaults (what a user gets; the operating "
        "points differ by orders of magnitude), then our statistics at each peer's own "
        "false-alarm rate (what the statistic can do; the target is judged there).",
        "",
        "#### At the defaults",
        "",
        "The steady column is each detector's own false-alarm rate. otel-drift cells: % of "
        "windows at warning or worse / % at critical · median windows to the first critical "
        "(– : not within the sequence in most of them). Peer cells (one alert level): % of "
        "windows flagged · median windows to the first.",
        "",
    ]
    figures: dict[str, float] = {}
    judged: list[tuple[Scenario, int, dict[str, dict[str, Rates]]]] = []
    equal: list[window_equal_rate.Cell] = []
    for scenario in SCENARIOS:
        reference = scenario.changes[0][1](rng, REFERENCE)
        evidently = Evidently(reference, scenario.kind)
        by_window: dict[int, dict[str, dict[str, Rates]]] = {}
        about: dict[str, str] = {}
        for window in WINDOWS:
            judge = Judge(scenario.kind, reference, window)
            nannyml = NannyML(reference, scenario.kind, window)
            peers: dict[str, Callable[[NDArray[Any]], bool]] = {"nannyml": nannyml.drifted}
            if evidently.ready:
                peers["evidently"] = evidently.drifted
            runs = {
                label: _run_cell(
                    judge,
                    peers,
                    draw,
                    window=window,
                    sequences=steady_sequences if label == STEADY else sequences,
                    length=length,
                    rng=rng,
                )
                for label, draw in scenario.changes
            }
            by_window[window] = {label: run.rates for label, run in runs.items()}
            equal += _equal_rate(scenario, window, runs, steady_sequences * length)
            judged.append((scenario, window, by_window[window]))
            about["nannyml"] = nannyml.about
        about["evidently"] = evidently.about
        markdown += [
            f"{scenario.name.capitalize()}:",
            "",
            _table(scenario, by_window, about),
            "",
        ]
    markdown += _verdicts(judged)
    equal_markdown, equal_figures = window_equal_rate.report(equal, steady_sequences * length)
    markdown += ["", *equal_markdown, ""]
    figures.update(equal_figures)
    for scenario, window, cells in judged:
        for label, _ in scenario.changes:
            for name, rates in cells[label].items():
                # Headline: the default method, the two tests and the peers
                # (whose steady column is their false-alarm rate).
                if name in HEADLINE or (label != STEADY and name in ("ks", "chi_square")):
                    change = window_equal_rate.slug(label)
                    key = f"win_power_{scenario.name}_{change}_w{window}_{name}_pct"
                    figures[key] = rates.pct(1)
    return Power(markdown, figures)


def _equal_rate(
    scenario: Scenario, window: int, cells: dict[str, Cell], steady_windows: int
) -> list[window_equal_rate.Cell]:
    """The equal-rate cells of one scenario and window: per change, each peer's
    (power, false-alarm rate) at its default and our statistics on the same windows."""
    steady = cells[STEADY]
    found = []
    for label, _ in scenario.changes[1:]:
        changed = cells[label]
        peers = {
            peer: (changed.rates[peer].pct(2), steady.rates[peer].pct(2))
            for peer in window_equal_rate.PEERS
            if peer in steady.rates
        }
        found.append(
            window_equal_rate.cell(
                f"{scenario.name} {label}",
                window,
                steady=steady.statistics,
                changed=changed.statistics,
                peers=peers,
                steady_windows=steady_windows,
            )
        )
    return found


def _table(
    scenario: Scenario, by_window: dict[int, dict[str, dict[str, Rates]]], about: dict[str, str]
) -> str:
    labels = [label for label, _ in scenario.changes]
    headers = ["detector", *(f"{label}, window {w:,}" for w in WINDOWS for label in labels)]
    rows = []
    for method in methods_for(scenario.kind):
        rows.append(
            [
                method,
                *(
                    f"{r.pct(1):.0f} / {r.pct(2):.0f} · {r.latency()}"
                    for w in WINDOWS
                    for r in (by_window[w][label][method] for label in labels)
                ),
            ]
        )
    for peer in ("evidently", "nannyml"):
        if peer not in by_window[WINDOWS[0]][labels[0]]:
            rows.append([about[peer], *("not installed" for _ in WINDOWS for _ in labels)])
            continue
        rows.append(
            [
                about[peer],
                *(
                    f"{r.pct(2):.0f} · {r.latency()}"
                    for w in WINDOWS
                    for r in (by_window[w][label][peer] for label in labels)
                ),
            ]
        )
    return table(headers, rows)


def _verdicts(judged: list[tuple[Scenario, int, dict[str, dict[str, Rates]]]]) -> list[str]:
    """Per change and window: which of our methods flag at least as many windows as
    each peer (at warning) with no more false alarms (warning, steady windows)."""
    rows = []
    wins: dict[str, int] = {}
    cells = won = 0
    for scenario, window, by_label in judged:
        steady = by_label[STEADY]
        peers = [p for p in ("evidently", "nannyml") if p in steady]
        for label, _ in scenario.changes[1:]:
            changed = by_label[label]
            cells += 1
            better = [
                m
                for m in methods_for(scenario.kind)
                if all(
                    changed[m].pct(1) >= changed[p].pct(2) and steady[m].pct(1) <= steady[p].pct(2)
                    for p in peers
                )
            ]
            for m in better:
                wins[m] = wins.get(m, 0) + 1
            won += bool(better)
            peer_text = "; ".join(
                f"{p}: {changed[p].pct(2):.0f} % at {steady[p].pct(2):.1f} % false" for p in peers
            )
            best = max(methods_for(scenario.kind), key=lambda m: changed[m].pct(1))
            rows.append(
                [
                    f"{scenario.name} {label}",
                    f"{window:,}",
                    peer_text,
                    f"{best}: {changed[best].pct(1):.0f} % at {steady[best].pct(1):.1f} % false",
                    ", ".join(better) or "none",
                ]
            )
    methods = sorted(wins, key=lambda m: -wins[m])
    summary = ", ".join(f"{m} {wins[m]}" for m in methods) or "none"
    return [
        table(
            [
                "change",
                "window",
                "peers: flagged, at their false-alarm rate",
                "our best method: warning or worse",
                "our methods with more power and no more false alarms, at the defaults",
            ],
            rows,
        ),
        "",
        "At the defaults (not the target's comparison: the operating points differ), cells "
        f"where one method has at least both peers' power with no more false alarms: "
        f"{won} of {cells} (per method: {summary}).",
    ]
