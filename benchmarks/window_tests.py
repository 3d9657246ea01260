"""Window tests: how often each method flags a window, by size of the change.

The baseline is what a user would declare from reference data: deciles of
100,000 N(0, 1) samples (numeric), or the category shares of 100,000 draws
(categorical), with ``samples: 100000``. Windows of 1,000 values go through
the real engine (``observe`` then the worker closing the window), one watched
value per method, every method at its default thresholds (``METHODS``); a
window counts as flagged at warning when its level is >= 1 and at critical
when it is 2 (the level of the window itself, before hysteresis).

Shift 0 is the false-alarm rate. Only ``ks`` and ``chi_square`` promise one
(their alpha); the distance methods promise nothing: their thresholds are
conventions, and their false-alarm rate depends on the window size.

Evidently runs its own per-column default test (what ``DataDriftPreset``
picks) on the same windows against the raw reference sample: with more than
1,000 reference rows that is the normed Wasserstein distance (numeric) or
Jensen-Shannon (categorical), both at 0.1; with 1,000 or fewer, K-S or
chi-square at p < 0.05. Both reference sizes are run.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common import Section, table, verdict
from otel_drift import DriftEngine, Settings, WindowEvaluation, loads_expectations
from otel_drift._internal.detectors import METHODS

WINDOW = 1000
REFERENCE = 100_000
#: Reference rows for Evidently's small-reference default (K-S / chi-square).
SMALL_REFERENCE = 1000
SHIFTS = (0.0, 0.05, 0.1, 0.25, 0.5)
CATEGORIES = ("a", "b", "c", "d", "e")
SHARES = (0.4, 0.3, 0.15, 0.1, 0.05)
#: Category-mix changes: this share moves from the commonest category to the rarest.
MIX_MOVES = (0.0, 0.02, 0.05)
NUMERIC = "numeric"
CATEGORICAL = "categorical"
SEED = 7

Draw = Callable[[np.random.Generator], NDArray[Any]]


@dataclass(frozen=True)
class Cell:
    """One column of a table: a kind of change and its size."""

    label: str
    draw: Draw


def _peer(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _methods(kind: str) -> list[str]:
    numeric = kind == NUMERIC
    return [
        name
        for name, info in METHODS.items()
        if info.threshold_kind != "h" and (info.numeric if numeric else info.categorical)
    ]


def _expectations(reference: NDArray[np.float64], labels: NDArray[np.str_]) -> str:
    deciles = [i / 10 for i in range(11)]
    quantiles = {
        str(q): float(v) for q, v in zip(deciles, np.quantile(reference, deciles), strict=True)
    }
    names, counts = np.unique(labels, return_counts=True)
    shares = {str(n): float(c) / labels.size for n, c in zip(names, counts, strict=True)}
    baselines = {
        NUMERIC: {"quantiles": quantiles, "samples": reference.size},
        CATEGORICAL: {"categories": shares, "samples": labels.size},
    }
    document = {
        "version": 1,
        "expectations": [
            {
                "name": kind,
                "match": {"span_name": kind},
                "window": {"spans": WINDOW},
                "watch": {
                    method: {"attribute": f"x.{method}", "baseline": baseline, "method": method}
                    for method in _methods(kind)
                },
            }
            for kind, baseline in baselines.items()
        ],
    }
    return json.dumps(document)


def _cells(kind: str) -> list[Cell]:
    def normal(shift: float) -> Draw:
        return lambda rng: rng.normal(shift, 1.0, size=WINDOW)

    def mix(move: float) -> Draw:
        shares = np.array(SHARES)
        shares[0] -= move
        shares[-1] += move
        return lambda rng: rng.choice(np.array(CATEGORIES), size=WINDOW, p=shares)

    if kind == NUMERIC:
        return [Cell(f"shift {s:g}σ", normal(s)) for s in SHIFTS]
    return [Cell(f"mix {m * 100:g} pts a→e", mix(m)) for m in MIX_MOVES]


class _Evidently:
    """Evidently's per-column default test, as DataDriftPreset chooses it.

    Two references: all the reference rows, and a 1,000-row slice of them
    that changes with every window. With one fixed small reference the
    false-alarm rate is that of the one draw (anywhere from 0 to 16 % over 20
    draws in a side check); a new slice per window averages over draws, which
    is the rate Evidently's alpha speaks of.
    """

    def __init__(self, raw: NDArray[Any], kind: str) -> None:
        pandas = _peer("pandas")
        stattests = _peer("evidently.legacy.calculations.stattests")
        core = _peer("evidently.legacy.core")
        self.ready = pandas is not None and stattests is not None and core is not None
        self.labels: dict[str, str] = {}
        if pandas is None or stattests is None or core is None:
            return
        self.series: Any = pandas.Series
        self.get_stattest: Any = stattests.get_stattest
        self.feature: Any = (
            core.ColumnType.Numerical if kind == NUMERIC else core.ColumnType.Categorical
        )
        self.large: Any = pandas.Series(raw)
        self.slices: list[Any] = [
            pandas.Series(raw[i : i + SMALL_REFERENCE]) for i in range(0, raw.size, SMALL_REFERENCE)
        ]
        # The choice depends only on the sizes and the number of distinct
        # values, so it is made once per reference (as the preset does per column).
        self.tests: dict[str, Any] = {}

    def drifted(self, index: int, window: NDArray[Any]) -> dict[str, bool]:
        """Per reference: whether Evidently's default test says the window drifted."""
        current = self.series(window)
        found: dict[str, bool] = {}
        references = (
            ("evidently_ref_all", f"{REFERENCE:,}", self.large),
            (
                "evidently_ref_1000",
                f"{SMALL_REFERENCE:,} (a new slice per window)",
                self.slices[index % len(self.slices)],
            ),
        )
        for key, size, reference in references:
            if key not in self.tests:
                self.tests[key] = self.get_stattest(reference, current, self.feature, None)
            test = self.tests[key]
            result = test(reference, current, self.feature, None)
            self.labels[key] = (
                f"Evidently default, reference {size}: {test.display_name} "
                f"{_threshold(test.name, result.actual_threshold)}"
            )
            found[key] = bool(result.drifted)
        return found


def _threshold(name: str, threshold: float) -> str:
    return f"p < {threshold:g}" if name in ("ks", "chisquare", "z") else f">= {threshold:g}"


@dataclass
class _Rates:
    """Flagged windows per (row, cell): counts of warning and critical levels."""

    windows: int
    warning: dict[tuple[str, str], int]
    critical: dict[tuple[str, str], int]
    #: Display names of the rows that are not one of our methods.
    labels: dict[str, str]

    def percent(self, counts: dict[tuple[str, str], int], row: str, cell: str) -> float:
        return counts[row, cell] / self.windows * 100


def _measure(kind: str, windows: int, rng: np.random.Generator) -> _Rates:
    reference = rng.normal(size=REFERENCE)
    labels = rng.choice(np.array(CATEGORIES), size=REFERENCE, p=SHARES)
    engine = DriftEngine(
        loads_expectations(_expectations(reference, labels), path="<window_tests>.json"),
        Settings(flush_interval_s=3600),
    )
    closed: list[WindowEvaluation] = []
    engine.add_listener(closed.append)
    evidently = _Evidently(reference if kind == NUMERIC else labels, kind)
    rates = _Rates(windows, {}, {}, evidently.labels)
    methods = _methods(kind)
    for cell in _cells(kind):
        closed.clear()
        flagged: dict[str, int] = {}
        for index in range(windows):
            window = cell.draw(rng)
            if not engine.observe(kind, {f"x.{m}": window for m in methods}):
                raise RuntimeError("observe() refused a window")
            if evidently.ready:
                for key, drifted in evidently.drifted(index, window).items():
                    flagged[key] = flagged.get(key, 0) + drifted
        engine.force_flush()
        if len(closed) != windows or any(w.partial for w in closed):
            raise RuntimeError(f"expected {windows} full windows, got {len(closed)}")
        for method in methods:
            levels = [next(x.level for x in w.watches if x.watch == method) for w in closed]
            rates.warning[method, cell.label] = sum(level >= 1 for level in levels)
            rates.critical[method, cell.label] = sum(level == 2 for level in levels)
        for key, count in flagged.items():
            rates.warning[key, cell.label] = rates.critical[key, cell.label] = count
    engine.shutdown()
    return rates


def run(quick: bool) -> Section:
    windows = 5 if quick else 200
    rng = np.random.default_rng(SEED)
    blocks: list[str] = []
    figures: dict[str, float] = {}
    promises: list[str] = []
    for kind in (NUMERIC, CATEGORICAL):
        rates = _measure(kind, windows, rng)
        cells = [cell.label for cell in _cells(kind)]
        blocks += [f"{kind.capitalize()} ({windows} windows per cell):", ""]
        blocks += [_table(kind, rates, cells), ""]
        promises += _promises(kind, rates, cells[0])
        figures.update(_figures(kind, rates, cells))
    evidently = _peer("evidently") is not None
    intro = (
        f"Windows of {WINDOW:,} values against a baseline from {REFERENCE:,} reference "
        "samples (numeric: 10 quantile bins; categorical: 5 categories, shares "
        f"{', '.join(f'{c} {s:g}' for c, s in zip(CATEGORIES, SHARES, strict=True))}). "
        "otel-drift cells: % of windows at warning / % at critical, default thresholds."
    )
    notes = [
        "Shift 0 / mix 0 is the false-alarm rate. Distance methods (psi, jensen_shannon, "
        "wasserstein, hellinger, linf) promise no false-alarm rate: their thresholds are "
        "conventions.",
        *promises,
    ]
    if not evidently:
        notes.append("Evidently: not installed.")
    if quick:
        notes.append("Quick mode: 5 windows per cell; rates are indicative only.")
    return Section(
        title="Window tests: detection and false-alarm rates",
        markdown="\n".join([intro, "", *blocks, *notes]),
        figures=figures,
    )


def _table(kind: str, rates: _Rates, cells: Sequence[str]) -> str:
    rows = []
    for row in sorted({key[0] for key in rates.warning}, key=_row_order):
        if row in METHODS:
            info = METHODS[row]
            promise = (
                f"α {info.warning:g} / {info.critical:g}" if info.threshold_kind == "alpha" else "—"
            )
            rows.append(
                [
                    f"{row} (warning {info.warning:g}, critical {info.critical:g})",
                    promise,
                    *(
                        f"{rates.percent(rates.warning, row, c):.0f} / "
                        f"{rates.percent(rates.critical, row, c):.0f}"
                        for c in cells
                    ),
                ]
            )
        else:
            label = rates.labels[row]
            promise = "α 0.05" if "p <" in label else "—"
            rows.append(
                [label, promise, *(f"{rates.percent(rates.warning, row, c):.0f}" for c in cells)]
            )
    return table(["method", "promised false alarms", *cells], rows)


def _row_order(row: str) -> tuple[int, str]:
    return (1, row) if row.startswith("evidently") else (0, row)


def _promises(kind: str, rates: _Rates, null_cell: str) -> list[str]:
    """Whether ks / chi_square keep their alpha, within two binomial standard errors."""
    lines = []
    for method in ("ks", "chi_square"):
        if (method, null_cell) not in rates.warning:
            continue
        info = METHODS[method]
        checks = []
        for alpha, counts in ((info.warning, rates.warning), (info.critical, rates.critical)):
            observed = rates.percent(counts, method, null_cell) / 100
            allowed = alpha + 2 * math.sqrt(alpha * (1 - alpha) / rates.windows)
            checks.append(f"α {alpha:g}: {observed * 100:.1f} % {verdict(observed <= allowed)}")
        lines.append(f"{kind} {method} false alarms vs its alpha: {'; '.join(checks)}.")
    return lines


def _figures(kind: str, rates: _Rates, cells: Sequence[str]) -> dict[str, float]:
    figures: dict[str, float] = {}
    detect = cells[3] if kind == NUMERIC else cells[-1]
    for row in sorted({key[0] for key in rates.warning}, key=_row_order):
        figures[f"win_{kind}_{row}_false_alarm_pct"] = rates.percent(rates.warning, row, cells[0])
        figures[f"win_{kind}_{row}_detect_pct_{_slug(detect)}"] = rates.percent(
            rates.warning, row, detect
        )
    return figures


def _slug(label: str) -> str:
    keep = "".join(c if c.isalnum() or c == "." else "_" for c in label.replace("σ", "sd"))
    return "_".join(part for part in keep.split("_") if part)
