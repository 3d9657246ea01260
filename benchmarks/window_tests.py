"""Window tests: false alarms on stationary data, and detection power against peers.

False alarms: for every method, every data set of ``window_data.DATA``
(Gaussian, lognormal, Pareto, a status mix and a long tail of categories),
windows of 100, 1,000 and 10,000 values and baselines from 1,000 and 100,000
reference values, 10,000 stationary windows per cell, judged by the engine's
own per-value state at the default thresholds (``window_data.Judge``). One
reference is drawn per data set and size and kept for all its windows, as a
user has one recording; the windows are fresh draws of the same distribution.

Counted per cell: windows whose own level is warning or worse, windows at
critical, and raises of the status after hysteresis. The promise
(``detectors/significance.py``): at most 1e-6 false warnings and 1e-9 false
criticals per window; CUSUM's defaults promise the same per 1,000 values.
Over 10,000 windows that is "no false critical" and "0 or 1 false warning"
per cell, and for all cells together a count within the Poisson 95 % bound of
the windows times 1e-6.

Detection power and the peers are in ``window_power.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from benchmarks import window_power
from benchmarks.common import Section, table, verdict
from benchmarks.window_data import DATA, Data, Judge, methods_for
from otel_drift._internal.detectors import METHODS
from otel_drift._internal.detectors.method import CRITICAL_ALPHA, WARNING_ALPHA

WINDOWS = (100, 1000, 10_000)
REFERENCES = (1000, 100_000)
#: Stationary windows per cell (full run, quick run).
FULL_WINDOWS = 10_000
QUICK_WINDOWS = 3
SEED = 7


@dataclass
class Counts:
    """Stationary windows of one (method, data, reference, window) cell."""

    windows: int = 0
    warning: int = 0
    critical: int = 0
    raises: int = 0
    critical_raises: int = 0

    def cell(self) -> str:
        return f"{self.warning} / {self.critical} / {self.raises}"


@dataclass
class Stationary:
    """All cells: ``counts[method, data, reference, window]``."""

    windows: int
    counts: dict[tuple[str, str, int, int], Counts] = field(default_factory=dict)

    def measure(self, data: Data, rng: np.random.Generator) -> None:
        for reference_size in REFERENCES:
            reference = data.draw(rng, reference_size)
            for window in WINDOWS:
                judge = Judge(data.kind, reference, window)
                cells = {m: Counts() for m in judge.states}
                for _ in range(self.windows):
                    for method, evaluation in judge.window(data.draw(rng, window)).items():
                        count = cells[method]
                        count.windows += 1
                        count.warning += evaluation.level >= 1
                        count.critical += evaluation.level == 2
                        count.raises += evaluation.status >= 1 > evaluation.previous_status
                        count.critical_raises += evaluation.status == 2 > evaluation.previous_status
                for method, count in cells.items():
                    self.counts[method, data.name, reference_size, window] = count


def run(quick: bool) -> Section:
    rng = np.random.default_rng(SEED)
    stationary = Stationary(QUICK_WINDOWS if quick else FULL_WINDOWS)
    for data in DATA:
        stationary.measure(data, rng)
    power = window_power.measure(quick, rng)
    intro = (
        "Judged by the engine's own per-value state (`WatchState.add_numbers`/`add_labels` "
        "then `close_window`, what the worker runs when a window closes; the engine's "
        "queue and thread are left out so that the 2.6 million windows fit in minutes), "
        "from an expectations file written as a user would (decile bins through "
        "`numpy.quantile`, or category shares, with `samples:` the reference size), every "
        "method at its default thresholds (warning / critical: "
        + ", ".join(f"{n} {i.warning:g} / {i.critical:g}" for n, i in METHODS.items())
        + f"), significance levels {WARNING_ALPHA:g} / {CRITICAL_ALPHA:g}."
    )
    parts = [
        intro,
        "",
        f"### False alarms on stationary data ({stationary.windows:,} windows per cell)",
        "",
        "One reference sample per data set and size (what a user records), fresh "
        "windows of the same distribution. Each cell: windows at warning or worse / at "
        "critical (the window's own level) / raises of the status after hysteresis.",
        "",
    ]
    for data in DATA:
        parts += [f"{data.name.capitalize()} ({data.about}):", "", _table(stationary, data), ""]
    parts += _verdicts(stationary)
    parts += ["", *power.markdown]
    if quick:
        parts.append(
            f"Quick mode: {QUICK_WINDOWS} stationary windows per cell; the figures mean nothing."
        )
    return Section(
        title="Window tests: false alarms and detection power",
        markdown="\n".join(parts),
        figures={**_figures(stationary), **power.figures},
    )


def _table(stationary: Stationary, data: Data) -> str:
    columns = [(r, w) for r in REFERENCES for w in WINDOWS]
    headers = ["method", *(f"ref {r:,}, window {w:,}" for r, w in columns)]
    rows = [
        [method, *(stationary.counts[method, data.name, r, w].cell() for r, w in columns)]
        for method in methods_for(data.kind)
    ]
    return table(headers, rows)


def poisson_upper(mean: float, level: float = 0.95) -> int:
    """The smallest count ``c`` with P(Poisson(mean) <= c) >= ``level``.

    >>> poisson_upper(0.01), poisson_upper(2.6)
    (0, 5)
    """
    term = total = math.exp(-mean)
    count = 0
    while total < level:
        count += 1
        term *= mean / count
        total += term
    return count


def _verdicts(stationary: Stationary) -> list[str]:
    counts = stationary.counts
    windows = sum(c.windows for c in counts.values())
    criticals = {k: c for k, c in counts.items() if c.critical}
    warnings = sum(c.warning for c in counts.values())
    over = {k: c for k, c in counts.items() if c.warning > 1}
    bound = poisson_upper(windows * WARNING_ALPHA)
    raises = sum(c.raises for c in counts.values())
    lines = [
        f"Target: no false critical in {stationary.windows:,} stationary windows, in any "
        f"cell: {sum(c.critical for c in criticals.values())} critical windows in "
        f"{windows:,} ({len(counts)} cells), {verdict(not criticals)}."
        + _where(criticals, "critical"),
        f"Target: false warnings within the documented rate ({WARNING_ALPHA:g} a window: "
        f"0 or 1 per cell of {stationary.windows:,}, and at most {bound} in all "
        f"{windows:,} windows, the Poisson 95 % bound): {warnings} warning windows, "
        f"{raises} raises after hysteresis, "
        f"{verdict(not over and warnings <= bound)}." + _where(over, "warning"),
    ]
    return lines


def _where(cells: dict[tuple[str, str, int, int], Counts], level: str) -> str:
    if not cells:
        return ""
    shown = [
        f"{method} on {data}, reference {ref:,}, window {window:,}: "
        f"{getattr(c, level)} of {c.windows:,}"
        for (method, data, ref, window), c in sorted(
            cells.items(), key=lambda kv: -int(getattr(kv[1], level))
        )
    ]
    return " Cells: " + "; ".join(shown) + "."


def _figures(stationary: Stationary) -> dict[str, float]:
    figures: dict[str, float] = {}
    for kind in ("numeric", "categorical"):
        names = [d.name for d in DATA if d.kind == kind]
        for method in methods_for(kind):
            cells = [
                c for (m, d, _, _), c in stationary.counts.items() if m == method and d in names
            ]
            figures[f"win_{kind}_{method}_false_warnings"] = float(sum(c.warning for c in cells))
            figures[f"win_{kind}_{method}_false_criticals"] = float(sum(c.critical for c in cells))
    figures["win_stationary_windows_per_cell"] = float(stationary.windows)
    return figures
