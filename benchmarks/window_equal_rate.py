"""Detection power at an equal false-alarm rate: our statistics calibrated to each peer's.

At their defaults the detectors run at very different operating points: ours
at about 1e-6 false alarms a window (the significance gate,
``detectors/significance.py``), Evidently's and NannyML's at anything from
0 to 68 % of steady windows. Comparing the shares of changed windows flagged
at those points compares the settings, not the statistics: a test set to
flag 1 % of steady windows flags more changed ones than the same test at
1e-6. So here, for every cell (change, window size) and each peer, our
statistic is thresholded where it false-alarms no more often than the peer on
the same steady windows, and its power is read at that threshold.

The rate. The peer's share of flagged steady windows, floored at one window
(1/N of the N steady windows: a peer that flagged none still allows us the
single most extreme one, the resolution of the measurement). The gate's
p-value is also calibrated without the floor (allowed exactly as many steady
windows as the peer flagged, none where it flagged none), so that no win
rests on that one window.

The threshold. Each statistic is a per-window value, larger meaning more
drift (a p-value enters as ``-p``). With ``a`` the allowed count, the
threshold is the ``(a + 1)``-th largest steady value and a window is flagged
strictly above it: at most ``a`` steady windows are, fewer when values tie
(discrete p-values of small categorical windows), so our realised rate is
equal to the peer's or lower, never higher. The threshold is set on the same
steady windows the rate is measured on (in-sample, as the comparison asks).

The statistics, each calibrated on its own:

* the window p-value the gate uses (``significance.window_p_value``: the
  window alone or pooled with the one before, the smaller p doubled), read
  off ``psi``'s evaluation (every distance method tests the same counts);
* the same test on the window alone (``significance.p_value``), which sees
  exactly what the peers see;
* each method's own score (``psi``'s shown; the best of the methods' scores
  per cell is chosen after the fact, so it flatters us and is labelled so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from benchmarks.common import table, verdict

GATE = "window p-value"
ALONE = "single-window p-value"
#: The gate's p-value without the one-window floor: never more steady windows
#: flagged than the peer (none where the peer flagged none).
STRICT = "window p-value, no floor"
SCORE = "score: "
PEERS = ("evidently", "nannyml")
#: Summary statistics, in the order they are shown: (name, figure slug).
SHOWN = (
    (GATE, "gate_p"),
    (STRICT, "gate_p_no_floor"),
    (ALONE, "alone_p"),
    (f"{SCORE}psi", "psi_score"),
    ("best score", "best_score"),
)


def threshold(steady: NDArray[np.float64], allowed: int) -> float:
    """The value above which at most ``allowed`` of the ``steady`` values lie.

    >>> threshold(np.array([0.1, 0.5, 0.3, 0.5, 0.2]), 1)
    0.5
    >>> threshold(np.array([0.1, 0.5, 0.3, 0.4, 0.2]), 2)
    0.3
    """
    ordered = np.sort(steady)[::-1]
    if allowed >= ordered.size:
        return -math.inf
    return float(ordered[allowed])


@dataclass(frozen=True)
class Calibrated:
    """One statistic at one allowed rate: its power and its own steady rate (%)."""

    power: float
    false_alarms: float

    def cell(self) -> str:
        return f"{self.power:.0f} ({_rate(self.false_alarms)})"


def calibrate(steady: Sequence[float], changed: Sequence[float], allowed: int) -> Calibrated:
    """``changed`` windows flagged by the statistic set to flag at most ``allowed``
    of the ``steady`` ones.

    >>> calibrate([0.0, 1.0, 2.0, 3.0], [2.5, 3.5, 0.5, 4.0], 1)
    Calibrated(power=75.0, false_alarms=25.0)
    """
    quiet = np.asarray(steady, dtype=np.float64)
    moved = np.asarray(changed, dtype=np.float64)
    cut = threshold(quiet, allowed)
    return Calibrated(
        power=100.0 * float(np.mean(moved > cut)),
        false_alarms=100.0 * float(np.mean(quiet > cut)),
    )


@dataclass(frozen=True)
class Cell:
    """One (change, window) cell: per peer, its power and rate at its default, and
    every one of our statistics calibrated to that rate."""

    change: str
    window: int
    #: peer -> (flagged % of changed windows, flagged % of steady windows).
    peers: dict[str, tuple[float, float]]
    #: peer -> statistic -> calibrated.
    ours: dict[str, dict[str, Calibrated]]

    def best(self, peer: str) -> tuple[str, Calibrated]:
        scores = {k: v for k, v in self.ours[peer].items() if k.startswith(SCORE)}
        name = max(scores, key=lambda k: scores[k].power)
        return name.removeprefix(SCORE), scores[name]

    def pick(self, peer: str, statistic: str) -> Calibrated:
        return self.best(peer)[1] if statistic == "best score" else self.ours[peer][statistic]

    def wins(self, peer: str, statistic: str) -> bool:
        """At least the peer's power, at its false-alarm rate or lower (by construction)."""
        return self.pick(peer, statistic).power >= self.peers[peer][0]


def cell(
    change: str,
    window: int,
    *,
    steady: dict[str, list[float]],
    changed: dict[str, list[float]],
    peers: dict[str, tuple[float, float]],
    steady_windows: int,
) -> Cell:
    """Calibrate every statistic of ``steady``/``changed`` (statistic -> per-window
    values) to each peer's steady rate, floored at one of ``steady_windows``
    (and the gate's p-value once more without the floor)."""
    ours: dict[str, dict[str, Calibrated]] = {}
    for peer, (_, rate) in peers.items():
        allowed = round(rate / 100 * steady_windows)
        ours[peer] = {
            name: calibrate(steady[name], changed[name], max(1, allowed)) for name in steady
        }
        ours[peer][STRICT] = calibrate(steady[GATE], changed[GATE], allowed)
    return Cell(change, window, peers, ours)


def report(cells: list[Cell], steady_windows: int) -> tuple[list[str], dict[str, float]]:
    """The equal-rate table, the target line and the figures."""
    rows = []
    for c in cells:
        for peer in PEERS:
            if peer not in c.peers:
                rows.append([c.change, f"{c.window:,}", peer, "not installed", "", "", "", ""])
                continue
            power, rate = c.peers[peer]
            best, calibrated = c.best(peer)
            rows.append(
                [
                    c.change,
                    f"{c.window:,}",
                    peer,
                    f"{power:.0f} ({_rate(rate)}{'' if rate else ' †'})",
                    c.ours[peer][GATE].cell(),
                    c.ours[peer][ALONE].cell(),
                    c.ours[peer][f"{SCORE}psi"].cell(),
                    f"{best}: {calibrated.cell()}",
                ]
            )
    present = [p for p in PEERS if cells and p in cells[0].peers]
    figures: dict[str, float] = {}
    summary = []
    for statistic, name in SHOWN:
        won = {p: sum(c.wins(p, statistic) for c in cells) for p in present}
        both = sum(all(c.wins(p, statistic) for p in present) for c in cells)
        figures[f"win_equal_rate_{name}_cells_won_both"] = float(both)
        figures.update({f"win_equal_rate_{name}_cells_won_{p}": float(n) for p, n in won.items()})
        per_peer = ", ".join(f"{p} {n}" for p, n in won.items())
        summary.append(f"{statistic} {both} ({per_peer})")
    gate_both = figures["win_equal_rate_gate_p_cells_won_both"]
    floored = sum(1 for c in cells for p in present if c.peers[p][1] == 0)
    markdown = [
        f"#### At an equal false-alarm rate ({steady_windows:,} steady windows per cell)",
        "",
        "Each peer at its default, beside our statistics thresholded on the same steady "
        "windows to false-alarm no more often than that peer (its rate floored at one "
        f"window in {steady_windows:,}, marked †, where the peer flagged none; ties put "
        "ours below it). Cells: % of changed windows "
        "flagged (% of steady windows flagged). Window p-value: the gate's statistic (the "
        "window alone or pooled with the one before). Single-window p-value: the same test "
        "on the window alone, the data the peers see. Scores: each method's own; the best "
        "of them is picked per cell after the fact, which flatters us.",
        "",
        table(
            [
                "change",
                "window",
                "peer",
                "peer at its default",
                GATE,
                ALONE,
                "psi score",
                "best score (picked after the fact)",
            ],
            rows,
        ),
        "",
        "Target: more power than both peers at an equal or lower false-alarm rate, "
        f"judged at equal rates (at least the peer's power at its rate): "
        f"{verdict(bool(present) and gate_both == len(cells))} by the gate's window "
        f"p-value. Cells won of {len(cells)} against both peers (per peer): "
        + "; ".join(summary)
        + f". {floored} of the {len(cells) * len(present)} comparisons rest on the floor "
        "(the peer flagged no steady window, ours one); 'no floor' holds ours to none there.",
    ]
    for c in cells:
        for peer in present:
            key = f"win_equal_rate_{slug(c.change)}_w{c.window}_vs_{peer}_gate_p_pct"
            figures[key] = c.ours[peer][GATE].power
    return markdown, figures


def _rate(pct: float) -> str:
    """A false-alarm share, readable from 0.03 % to 68 %.

    >>> _rate(67.73), _rate(0.0667), _rate(0.0)
    ('68 %', '0.067 %', '0 %')
    """
    if pct == 0:
        return "0 %"
    return f"{pct:.0f} %" if pct >= 10 else f"{pct:.2g} %"


def slug(label: str) -> str:
    """A change's label as part of a figure's key.

    >>> slug("latency ×1.1"), slug("errors +5 pts")
    ('latency_x1_1', 'errors_p5_pts')
    """
    keep = "".join(c if c.isalnum() else "_" for c in label.replace("×", "x").replace("+", "p"))
    return "_".join(part for part in keep.split("_") if part)
