"""Open outer bins: where a learned numeric baseline puts its edges, and what the outer bins hold.

The engine compares a window with ``[underflow, bins..., overflow]`` and a
baseline puts nothing in underflow or overflow. Edges at the sample's minimum
and maximum therefore make any faster or slower request than the recording
held a value of a share-zero bin: one such request is "drift". So a learned
baseline has *open outer bins*:

* the inner edges sit at quantiles from :data:`TAIL` to ``1 - TAIL``
  (0.5 % and 99.5 %), never at the extremes;
* the outermost edges lie far beyond the data: 0 for a value never negative
  in the data (a duration, a token count), otherwise the extreme minus
  :data:`OUTER_REACH` times the data's spread; above, the maximum plus as much;
* the two outer bins get the share the data put there, and at least
  ``1 / (n + 1)`` (the rule of succession: n values never below the edge
  still leave that much chance of the next one being so).

One definition for every baseline command: ``baseline`` on a CSV and
``baseline --from-traces`` (and live learning) place bins with these functions.

>>> edges = open_edges([10.0, 12.0, 14.0, 16.0], low=8.0, high=30.0)
>>> edges
[0.0, 10.0, 12.0, 14.0, 16.0, 330.0]
>>> open_fractions([0, 40, 30, 20, 10, 0])
[0.009901, 0.392079, 0.294059, 0.19604, 0.09802, 0.009901]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Share of the data left to each outer bin by the inner edges' quantiles.
TAIL = 0.005
#: How far the outermost edges reach beyond the data, in multiples of its spread.
OUTER_REACH = 10.0


def inner_probabilities(bins: int) -> list[float]:
    """The quantiles the inner edges go at, for ``bins`` bins in all (>= 3).

    ``bins - 1`` inner edges: ``TAIL``, then evenly up to ``1 - TAIL``, so the
    ``bins - 2`` inner bins hold equal shares and each outer bin ``TAIL``.

    >>> inner_probabilities(4)
    [0.005, 0.5, 0.995]
    """
    inner = max(bins - 2, 1)
    return [TAIL + (1.0 - 2 * TAIL) * i / inner for i in range(inner + 1)]


def _round(value: float) -> float:
    """Six significant digits: readable in the YAML, plenty for bin edges."""
    return float(f"{value:.6g}")


def open_edges(inner: Sequence[float], *, low: float, high: float) -> list[float]:
    """``inner`` edges (increasing) with an open outer bin added on each side.

    ``low`` and ``high`` are the data's extremes: the outer edges lie beyond
    them (see the module's rule), so every recorded value, and any a little
    faster or slower, falls in a bin of the baseline.

    >>> open_edges([-1.0, 1.0], low=-2.0, high=2.0)
    [-42.0, -1.0, 1.0, 42.0]
    """
    edges = sorted(set(inner))
    if low >= 0.0:
        # Nothing falls below 0: an inner edge there would only repeat the outer one.
        edges = [edge for edge in edges if edge > 0.0] or [max(high, 1e-3)]
    if not edges:
        raise ValueError("open_edges needs at least one inner edge")
    low, high = min(low, edges[0]), max(high, edges[-1])
    spread = max(high - low, abs(high), abs(low), 1e-9)
    reach = OUTER_REACH * spread
    below = 0.0 if low >= 0.0 else _round(low - reach)
    above = _round(high + reach)
    if below >= edges[0]:
        below = edges[0] - reach
    if above <= edges[-1]:
        above = edges[-1] + reach
    return [below, *edges, above]


def open_fractions(counts: Sequence[float]) -> list[float]:
    """Shares of ``counts`` (every bin's, outer ones first and last), outer ones floored.

    Each outer bin holds at least ``1 / (n + 1)`` of the ``n`` values; the
    inner bins give up that share in proportion. Six decimals, summing to 1.
    """
    n = math.fsum(counts)
    if n <= 0:
        return rounded_shares([1.0] * len(counts))
    floor = 1.0 / (n + 1.0)
    outer = [max(counts[0] / n, floor), max(counts[-1] / n, floor)]
    inner_total = math.fsum(counts[1:-1])
    left = 1.0 - outer[0] - outer[-1]
    inner = [
        c / inner_total * left if inner_total else left / (len(counts) - 2) for c in counts[1:-1]
    ]
    return rounded_shares([outer[0], *inner, outer[-1]])


def rounded_shares(shares: Sequence[float]) -> list[float]:
    """Shares rounded to 6 places that still sum to 1 (the largest absorbs the rest).

    >>> rounded_shares([1 / 3, 1 / 3, 1 / 3])
    [0.333334, 0.333333, 0.333333]
    """
    total = math.fsum(shares)
    rounded = [round(float(s) / total, 6) for s in shares]
    largest = max(range(len(rounded)), key=lambda i: rounded[i])
    rounded[largest] = round(rounded[largest] + (1.0 - math.fsum(rounded)), 6)
    return rounded


def categorical_baseline(counts: Mapping[str, int]) -> dict[str, Any]:
    """``{categories, samples}`` of label counts, the most frequent first.

    >>> categorical_baseline({"4xx": 1, "2xx": 3})
    {'categories': {'2xx': 0.75, '4xx': 0.25}, 'samples': 4}
    """
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shares = rounded_shares([count for _, count in ordered])
    categories = {text: share for (text, _), share in zip(ordered, shares, strict=True)}
    return {"categories": categories, "samples": sum(counts.values())}
