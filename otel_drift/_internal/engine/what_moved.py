"""What moved in a drifting window, in words a person reads: ``drift.top_changes``.

A score says *that* a window moved; whoever is paged needs *what*: which
status code, which latency band, how the median went. For a drifting window
(computed only then, at close: never per value) the bins or categories whose
share moved most are listed with their baseline and live shares, for a
numeric value after the move of its median, e.g.::

    p50 40 ms -> 52 ms
    [35.2,41.8) ms: 10.0% -> 3.1%
    500: 1.0% -> 15.2%

Categories outside the baseline are named (the window's counter keeps up to
``max_categories`` of them by name); only what is past that cap is
``__other__``.

>>> top_changes(("200", "500"), [0.99, 0.01], [170.0, 30.0])
('200: 99.0% -> 85.0%', '500: 1.0% -> 15.0%')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

#: At most this many lines per watched value (the event stays readable).
MAX_CHANGES = 3
#: A bin whose share moved by less than this (in share points) is not listed.
MIN_MOVE = 0.005


def _share(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def top_changes(
    labels: Sequence[str], expected: Sequence[float], counts: Sequence[float]
) -> tuple[str, ...]:
    """The bins whose share moved most: ``label: baseline% -> live%``."""
    p = np.asarray(expected, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    total, p_total = float(c.sum()), float(p.sum())
    if total <= 0.0 or p_total <= 0.0:
        return ()
    p = p / p_total
    q = c / total
    moved = np.abs(q - p)
    order = np.argsort(-moved, kind="stable")[:MAX_CHANGES]
    return tuple(
        f"{labels[i]}: {_share(float(p[i]))} -> {_share(float(q[i]))}"
        for i in order
        if moved[i] >= MIN_MOVE
    )


def binned_quantile(edges: NDArray[np.float64], shares: NDArray[np.float64], at: float) -> float:
    """The ``at`` quantile of inner-bin ``shares`` over ``edges`` (linear within bins).

    >>> binned_quantile(np.array([0.0, 10.0, 20.0]), np.array([0.5, 0.5]), 0.75)
    15.0
    """
    total = float(shares.sum())
    if total <= 0.0:
        return float("nan")
    cdf = np.concatenate(([0.0], np.cumsum(shares) / total))
    return float(np.interp(at, cdf, edges))


def median_move(
    edges: NDArray[np.float64],
    expected: NDArray[np.float64],
    counts: NDArray[np.float64],
    unit: str,
) -> str | None:
    """``p50 12 ms -> 25 ms`` from the inner bins (underflow/overflow clamp to the edges)."""
    # [underflow, bins..., overflow]: the outer ones sit on the edges.
    inner_expected = expected[1:-1].copy()
    inner_counts = counts[1:-1].copy()
    inner_expected[0] += expected[0]
    inner_expected[-1] += expected[-1]
    inner_counts[0] += counts[0]
    inner_counts[-1] += counts[-1]
    before = binned_quantile(edges, inner_expected, 0.5)
    after = binned_quantile(edges, inner_counts, 0.5)
    if not (np.isfinite(before) and np.isfinite(after)):
        return None
    suffix = f" {unit}" if unit else ""
    return f"p50 {before:.4g}{suffix} -> {after:.4g}{suffix}"
