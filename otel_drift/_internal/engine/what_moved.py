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

With ``explain_by``, the segment of traffic that carried the drift is named
beside it (``SegmentShare``, computed in ``segments.py``).

>>> top_changes(("200", "500"), [0.99, 0.01], [170.0, 30.0])
('200: 99.0% -> 85.0%', '500: 1.0% -> 15.0%')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from otel_drift._internal.sketches import CategoryCounter

#: The bin of categories outside the baseline that are not named.
OTHER_LABEL = "__other__"
#: Sources whose categories otel-drift derives itself: safe to name.
_DERIVED_SOURCES = frozenset({"http.status_class", "span.status", "json.shape"})

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


def nameable(source_kind: str, label: str) -> bool:
    """May a category outside the baseline leave the process by name?

    Raw values leave only as aggregates (``signals/privacy.py``): an
    unexpected plan name or user id stays under ``__other__``. What
    otel-drift derived itself (a status class, a span status, a JSON shape
    id) and numbers (a status code, a model's class) are named, so 5xx
    answers under a ``{2xx: 1.0}`` baseline show as ``5xx``.

    >>> [nameable("attribute", v) for v in ("gold", "503")], nameable("span.status", "ERROR")
    ([False, True], True)
    """
    if source_kind in _DERIVED_SOURCES:
        return True
    try:
        float(label)
    except ValueError:
        return False
    return True


def category_changes(
    source_kind: str,
    known: Sequence[str],
    shares: Sequence[float],
    window: CategoryCounter,
) -> tuple[str, ...]:
    """``top_changes`` of a categorical window: every category the counter kept
    by name (baseline or nameable), the rest as ``__other__``."""
    by_name = window.counts
    names = [
        *known,
        *(n for n in by_name if n not in known and nameable(source_kind, n)),
    ]
    share_of = dict(zip(known, shares, strict=False))
    baseline = [share_of.get(name, 0.0) for name in names]
    live = [float(by_name.get(name, 0)) for name in names]
    other = window.total - sum(live)
    if other:
        names.append(OTHER_LABEL)
        baseline.append(0.0)
        live.append(float(other))
    return top_changes(names, baseline, live)


@dataclass(frozen=True, slots=True)
class SegmentShare:
    """A segment of traffic that carried a drifting window (``engine/segments.py``).

    ``share`` is ``1 - score_without / score``, clipped to [0, 1]: the part of
    the window's score that goes when the segment's values are taken out.
    """

    #: ``attribute=value``, e.g. ``cloud.region=eu-west-1``.
    segment: str
    share: float
    #: The window's score with the segment's values taken out.
    score_without: float
    #: The segment's own values scored against the baseline.
    own_score: float
    #: The segment's values in the window.
    values: int


def explained_text(explained: Sequence[SegmentShare]) -> str:
    """The segments as one phrase for the console line and the span status.

    >>> explained_text([SegmentShare("cloud.region=eu-west-1", 0.93, 0.01, 0.4, 120)])
    'explained by cloud.region=eu-west-1 (93% of the score)'
    """
    parts = [f"{s.segment} ({100.0 * s.share:.0f}% of the score)" for s in explained]
    return "explained by " + ", ".join(parts) if parts else ""
