"""A fine log-spaced grid for non-negative values: durations and token counts, in bounded memory.

A learned baseline needs the quantiles of every value a recording held
(a million spans or more) and, for its reference windows, each window's
values. Both are kept as cells of one fixed grid: cell 0 holds ``[0, MIN)``,
cell ``i >= 1`` holds ``[MIN * GROWTH**(i-1), MIN * GROWTH**i)``, 1 %
wide, from 1 microsecond (in ms) to about three months; larger values share the
last cell. A cell index fits in 16 bits, so a window of 1,000 values costs
2 kB, and the value counts are one fixed array, whatever the number of spans.

Edges placed on the grid's boundaries put every recorded value on one side
of them exactly: the reference windows are binned as the engine would bin
the raw values, and quantiles are exact to the cell (1 %).

>>> cells = [cell_of(v) for v in (0.0, 0.5, 12.0, 12.1, 1e12)]
>>> cells[0], cells[3] - cells[2], cells[-1] == CELLS - 1
(0, 1, True)
>>> lower_edge(cells[2]) <= 12.0 < lower_edge(cells[2] + 1)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: The lower bound of cell 1; cell 0 holds everything below (and 0).
MIN = 1e-3
#: Each cell is this much wider than the one before (1 %).
GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)
#: Cells in all: up to 1e-3 * 1.01**2999, about 9e9 (ms: three months).
CELLS = 3000


def cell_of(value: float) -> int:
    """The grid cell of one value (negative and NaN values: cell 0)."""
    if not value >= MIN:  # also NaN
        return 0
    cell = 1 + int(math.log(value / MIN) / _LOG_GROWTH)
    return cell if cell < CELLS else CELLS - 1


def lower_edge(cell: int) -> float:
    """Where ``cell`` starts (0 for cell 0)."""
    return 0.0 if cell <= 0 else float(MIN * GROWTH ** (cell - 1))


def cell_values(cells: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A value inside each cell (its geometric middle; 0 in cell 0), for replaying windows."""
    index = cells.astype(np.float64)
    middle = MIN * np.power(GROWTH, index - 0.5)
    return np.where(cells <= 0, 0.0, middle)


def quantile_cells(counts: np.ndarray[Any, Any], probabilities: list[float]) -> list[int]:
    """For each probability p, the first cell at which the cumulative share reaches p."""
    cumulative = np.cumsum(counts)
    total = float(cumulative[-1])
    return [int(np.searchsorted(cumulative, p * total, side="left")) for p in probabilities]


def quantiles(counts: np.ndarray[Any, Any], probabilities: list[float]) -> list[float]:
    """Values at ``probabilities``: each cell's middle (exact to 1 %)."""
    cells = np.array(quantile_cells(counts, probabilities))
    return [float(v) for v in cell_values(cells)]
