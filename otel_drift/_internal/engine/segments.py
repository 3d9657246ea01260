"""Drift traced to a segment of traffic: which ``attribute=value`` carried a drifting window.

A score says that a window moved and ``drift.top_changes`` what moved; when
one region, one version or one flag variant moved and the rest did not,
whoever is paged needs that segment. An expectation's ``explain_by``
attributes (by default ``DEFAULT_EXPLAIN_BY``) ride along in its span rows
(``spans/rows.py``: read on the request thread, nothing else done there).
Here, on the worker, per chunk of rows: the values become segment codes
(``np.unique`` on the column), and per watched value the counts per
(segment, bin) grow by one ``np.bincount``. When a window closes at warning
or worse, every segment is scored twice against the same baseline:

- the window without it (its counts taken out of the window's), and
- on its own;

and ranked by the share of the window's score it carries::

    share = clip(1 - score_without / score, 0, 1)

A slowdown in one region of three: without that region the window is the
baseline again, share ~1. The same slowdown everywhere: without any one
region the window moved as much, share ~0 for each. A segment is named
(``drift.explained_by``, with ``drift.explained_share``) when its share is at
least ``EXPLAINED_FLOOR`` (0.5: it carries most of the score), at most
``MAX_EXPLAINED`` of them, so "everywhere" names none.

The score is the watched value's own method when it does not grow with the
number of values (the distances, and ks's D); chi_square's statistic does,
and CUSUM's is a running sum, so those two are re-scored with jensen_shannon.

Bounded: per attribute and window, ``MAX_TRACKED`` values are counted by
name (the first seen; within a chunk of rows the busiest first), any more
under ``__other__``; at the close the ``MAX_SEGMENTS`` with
the most values are ranked, the rest folded into ``__other__`` (ranked as one
segment, its values counted). An attribute seen with a single value explains
nothing: that is every span of the window; until a second value comes, no
counts are kept for it (the window's own are taken then), so an attribute
spans do not carry (the default's, often) costs one identity scan a chunk
(~15 ns a row, in C: ``_Attribute._same``).
``user_agent.original`` is grouped into families (``user_agent_family``)
instead of kept verbatim.

Measured (benchmarks/explain_by.py, RESULTS.md "explain_by"): coding a
chunk's column ~45 ns a row (one value on every row: ~15); ranking the
segments of a drifting window 0.3 to 0.45 ms a watched value (3 segments:
7 scorings), paid only by windows at warning or worse. On the request thread
each attribute adds one dict lookup to the row (``spans/rows.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from operator import is_not

import numpy as np
from numpy.typing import NDArray

from otel_drift._internal.detectors import METHODS, evaluate
from otel_drift._internal.engine.watch_state import WatchState
from otel_drift._internal.engine.what_moved import OTHER_LABEL, SegmentShare
from otel_drift._internal.expectations.model import (
    BinnedBaseline,
    CategoricalBaseline,
    Expectation,
)
from otel_drift._internal.values import label

#: The OpenTelemetry feature-flag attribute (on a span, or on its
#: ``feature_flag.evaluation`` events, as OpenFeature's hooks record it).
FLAG_VARIANT = "feature_flag.result.variant"
FLAG_KEY = "feature_flag.key"
FLAG_EVENT = "feature_flag.evaluation"
USER_AGENT = "user_agent.original"
#: ``explain_by`` when an expectation does not declare it (``explain_by: []`` turns it
#: off): the flag variant, which an OpenFeature hook puts on the request's own span.
#: Not ``service.version``: in one process it is a resource attribute, the same on every
#: span, so it would name nothing and its lookup, missing on every span, cost each
#: matched span (a default of both measured +3.9 % a matched span over none,
#: ``python -m benchmarks.explain_by 20000 15``); declare it where spans carry it.
DEFAULT_EXPLAIN_BY = (FLAG_VARIANT,)

#: Values of one attribute counted by name per window; the rest go under ``__other__``.
MAX_TRACKED = 64
#: Segments of one attribute ranked at a close (most values first); the rest folded.
MAX_SEGMENTS = 8
#: A segment is named when it carries at least this share of the window's score.
EXPLAINED_FLOOR = 0.5
#: At most this many segments named per watched value.
MAX_EXPLAINED = 3
#: The segment of spans without the attribute.
MISSING_SEGMENT = "(none)"


def segment_attributes(expectation: Expectation) -> tuple[str, ...]:
    """The attributes ``expectation``'s windows are explained by.

    >>> from otel_drift._internal.expectations.model import Expectation, Match
    >>> segment_attributes(Expectation("e", Match(), ()))
    ('feature_flag.result.variant',)
    """
    if expectation.explain_by is None:
        return DEFAULT_EXPLAIN_BY
    return expectation.explain_by


def user_agent_family(text: str) -> str:
    """A ``user_agent.original`` as a family: bot, curl, python, browser or other.

    >>> [user_agent_family(t) for t in ("curl/8.4.0", "Googlebot/2.1", "python-requests/2.31",
    ...  "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0", "okhttp/4.12")]
    ['curl', 'bot', 'python', 'browser', 'other']
    """
    lower = text.lower()
    if any(word in lower for word in ("bot", "spider", "crawl")):
        return "bot"
    if lower.startswith("curl/"):
        return "curl"
    if lower.startswith(("python", "httpx", "aiohttp")):
        return "python"
    if lower.startswith("mozilla/"):
        return "browser"
    return "other"


def _segment_label(value: object) -> str:
    text = label(value)
    return MISSING_SEGMENT if text is None else text


class _Attribute:
    """One ``explain_by`` attribute's segments in the open window."""

    __slots__ = ("codes", "counts", "name", "single", "slots", "traffic")

    def __init__(self, name: str, widths: Sequence[int]) -> None:
        self.name = name
        self.slots: dict[str, int] = {}
        #: Spans per slot in the window.
        self.traffic = np.zeros(0, dtype=np.int64)
        #: Per watched value: counts per (slot, bin).
        self.counts = [np.zeros((0, width)) for width in widths]
        #: The open chunk's slot per row.
        self.codes: NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        #: True while every span of the window had one value (or none): then no counts
        #: are kept, they are the window's own (``begin`` takes them when a second comes).
        self.single = True

    def begin(
        self, column: Sequence[object], window: Callable[[], list[NDArray[np.float64] | None]]
    ) -> None:
        """Code a chunk's column; ``window``: each watched value's window counts so far."""
        if self.single and self._same(column):  # the usual default: none on any row
            return
        before = len(self.slots)
        try:
            # Factorized in C (dict, map): ~45 ns a row, against ~150 labelling each row.
            lookup = {value: i for i, value in enumerate(dict.fromkeys(column))}
            if len(lookup) == 1:  # one value (or none) on every row: the usual default
                inverse = np.zeros(len(column), dtype=np.intp)
            else:
                inverse = np.fromiter(map(lookup.__getitem__, column), np.intp, len(column))
        except TypeError:  # an unhashable value: labelled row by row
            labels = [_segment_label(value) for value in column]
            lookup = {value: i for i, value in enumerate(dict.fromkeys(labels))}
            inverse = np.fromiter(map(lookup.__getitem__, labels), np.intp, len(labels))
        rename = user_agent_family if self.name == USER_AGENT else None
        names = [_segment_label(value) for value in lookup]
        slots = np.zeros(len(names), dtype=np.intp)
        # New values take the free slots busiest first: past the cap, the rarest fold.
        for unique in np.argsort(-np.bincount(inverse, minlength=len(names)), kind="stable"):
            name = names[unique]
            slots[unique] = self._slot(rename(name) if rename else name)
        self.codes = slots[inverse]
        grown = np.zeros(len(self.slots), dtype=np.int64)
        grown[: self.traffic.size] = self.traffic
        self.traffic = grown + np.bincount(self.codes, minlength=len(self.slots))
        if self.single and len(self.slots) > 1:
            self.single = False
            if before == 1:  # the window so far was all the first value's
                for position, counts in enumerate(window()):
                    width = self.counts[position].shape[1]
                    if counts is not None and width and counts.size == width:
                        self.counts[position] = np.zeros((1, width))
                        self.counts[position][0] = counts

    def _same(self, column: Sequence[object]) -> bool:
        """Count a chunk without the attribute on any row while the window had no other
        value: the usual default (no flag on any span), told by identity in C, ~15 ns
        a row against ~50 coding it. False, and nothing counted, otherwise."""
        if not column or len(self.slots) > 1 or any(map(is_not, column, repeat(None))):
            return False
        name = _segment_label(None)
        if self.name == USER_AGENT:
            name = user_agent_family(name)
        if self.slots and name not in self.slots:
            return False
        slot = self._slot(name)
        traffic = np.zeros(len(self.slots), dtype=np.int64)
        traffic[: self.traffic.size] = self.traffic
        traffic[slot] += len(column)
        self.traffic = traffic
        self.codes = np.full(len(column), slot, dtype=np.intp)
        return True

    def _slot(self, name: str) -> int:
        slot = self.slots.get(name)
        if slot is None:
            if len(self.slots) >= MAX_TRACKED:
                name = OTHER_LABEL
                slot = self.slots.get(name)
            if slot is None:
                slot = self.slots[name] = len(self.slots)
        return slot

    def add(self, position: int, bins: NDArray[np.intp], rows: NDArray[np.intp] | None) -> None:
        if self.single:
            return
        codes = self.codes if rows is None else self.codes[rows]
        matrix = self.counts[position]
        width = matrix.shape[1]
        count = len(self.slots)
        flat = np.bincount(codes * width + bins, minlength=count * width)
        if matrix.shape[0] < count:
            grown = np.zeros((count, width))
            grown[: matrix.shape[0]] = matrix
            matrix = self.counts[position] = grown
        matrix[:count] += flat.reshape(count, width)

    def folded(self, position: int) -> tuple[list[str], NDArray[np.float64]]:
        """The ``MAX_SEGMENTS`` slots with the most spans by name, the rest as ``__other__``."""
        matrix = self.counts[position]
        names = [""] * len(self.slots)
        for name, slot in self.slots.items():
            names[slot] = name
        order = np.argsort(-self.traffic[: matrix.shape[0]], kind="stable")
        kept = [int(s) for s in order if names[s] != OTHER_LABEL][:MAX_SEGMENTS]
        rest = np.ones(matrix.shape[0], dtype=bool)
        rest[kept] = False
        rows = [matrix[s] for s in kept]
        labels = [names[s] for s in kept]
        if rest.any():
            rows.append(matrix[rest].sum(axis=0))
            labels.append(OTHER_LABEL)
        return labels, np.asarray(rows).reshape(len(rows), matrix.shape[1])

    def reset(self) -> None:
        self.slots.clear()
        self.single = True
        self.traffic = np.zeros(0, dtype=np.int64)
        self.counts = [np.zeros((0, m.shape[1])) for m in self.counts]


class Segments:
    """One expectation's segments: counted per chunk of span rows, ranked at a close."""

    def __init__(self, attributes: Sequence[str], watches: Sequence[WatchState]) -> None:
        self.attributes = tuple(attributes)
        self._watches = tuple(watches)
        self._position = {id(w): i for i, w in enumerate(watches)}
        self._edges: list[NDArray[np.float64] | None] = []
        self._known: list[dict[str, int] | None] = []
        widths = []
        for watch in watches:
            baseline = watch.watch.baseline
            edges = known = None
            if isinstance(baseline, BinnedBaseline) and watch.expected is not None:
                edges = np.asarray(baseline.edges, dtype=np.float64)
            elif isinstance(baseline, CategoricalBaseline) and watch.expected is not None:
                known = {name: i for i, name in enumerate(watch.known)}
            self._edges.append(edges)
            self._known.append(known)
            widths.append(watch.expected.size if watch.expected is not None else 0)
        self._by_attribute = [_Attribute(name, widths) for name in self.attributes]
        #: True between ``begin`` and ``end``: the values fed are span rows of that chunk.
        self.open = False

    def begin(self, columns: Sequence[Sequence[object]]) -> None:
        """Start a chunk of span rows: one raw column per attribute, in order."""
        for attribute, column in zip(self._by_attribute, columns, strict=True):
            attribute.begin(column, self._window)
        self.open = True

    def _single(self) -> bool:
        """True while every attribute had one value (or none) in the window: nothing
        to count apart (the usual default, which then costs no binning)."""
        return all(attribute.single for attribute in self._by_attribute)

    def _window(self) -> list[NDArray[np.float64] | None]:
        return [watch.observed() for watch in self._watches]

    def end(self) -> None:
        self.open = False

    def add_numbers(
        self, watch: WatchState, values: NDArray[np.float64], rows: NDArray[np.intp] | None
    ) -> None:
        """Count a numeric column's valid ``values`` (``rows``: their rows in the chunk)."""
        position = self._position[id(watch)]
        edges = self._edges[position]
        if not self.open or edges is None or not values.size or self._single():
            return
        keep = ~np.isnan(values)
        if not keep.all():
            values = values[keep]
            rows = (np.arange(keep.size) if rows is None else rows)[keep]
        bins = np.searchsorted(edges, values, side="right")
        bins[values == edges[-1]] = edges.size - 1  # the last bin holds its right edge
        for attribute in self._by_attribute:
            attribute.add(position, bins, rows)

    def add_labels(self, watch: WatchState, values: list[str], rows: list[int] | None) -> None:
        """Count a categorical column's valid labels (``rows``: their rows in the chunk)."""
        position = self._position[id(watch)]
        known = self._known[position]
        if not self.open or known is None or not values or self._single():
            return
        other = len(known)
        bins = np.fromiter(map(known.get, values, repeat(other)), np.intp, len(values))
        where = None if rows is None else np.asarray(rows, dtype=np.intp)
        for attribute in self._by_attribute:
            attribute.add(position, bins, where)

    def explain(self, watch: WatchState) -> tuple[SegmentShare, ...]:
        """The segments that carried ``watch``'s window (call before the window resets)."""
        position = self._position[id(watch)]
        score = _scorer(watch)
        if score is None:
            return ()
        ranked: list[SegmentShare] = []
        for attribute in self._by_attribute:
            if len(attribute.slots) < 2:
                continue  # one value on every span: nothing to tell apart
            names, matrix = attribute.folded(position)
            sizes = matrix.sum(axis=1)
            if int((sizes > 0).sum()) < 2:
                continue  # this value's values all in one segment
            total = matrix.sum(axis=0)
            full = score(total)
            if not full > 0.0:
                continue
            for name, row, size in zip(names, matrix, sizes.tolist(), strict=True):
                if size <= 0:
                    continue
                without = score(total - row)
                share = min(1.0, max(0.0, 1.0 - without / full))
                segment = f"{attribute.name}={name}"
                ranked.append(SegmentShare(segment, share, without, score(row), int(size)))
        ranked.sort(key=lambda s: -s.share)
        return tuple(s for s in ranked if s.share >= EXPLAINED_FLOOR)[:MAX_EXPLAINED]

    def reset(self) -> None:
        """Forget the closed window's segments."""
        for attribute in self._by_attribute:
            attribute.reset()


def _scorer(watch: WatchState) -> Callable[[NDArray[np.float64]], float] | None:
    """Scores counts against ``watch``'s baseline with a method that does not grow
    with the number of values (see the module's docstring); None without a baseline."""
    expected = watch.expected
    baseline = watch.watch.baseline
    if expected is None or baseline is None:
        return None
    method = watch.watch.method
    if METHODS[method].threshold_kind != "distance" and method != "ks":
        method = "jensen_shannon"
    scale = baseline.std if isinstance(baseline, BinnedBaseline) else 1.0
    points, samples, alpha = watch.points, baseline.samples, watch.watch.warning

    def score(observed: NDArray[np.float64]) -> float:
        if observed.sum() <= 0:
            return float("nan")
        result = evaluate(
            method,
            expected,
            observed,
            points=points,
            scale=scale,
            baseline_samples=samples,
            alpha=alpha,
        )
        return float(result.score)

    return score
