"""Each expectation's open window: values fed in, split at window ends, windows closed.

The worker hands over what it took from the queue: single spans' values (a
tuple each) and batches (``intake.Batch``). Per expectation, consecutive
spans become one column per watched value, consecutive batches of one layout
are fed as one, and any of them that straddles a window end is cut there.
Each column is converted once (``sources.span_rows`` for span rows), checked
against its constraints, counted into its watched value's sketches, and its
violations handed to the listeners. A window full, due by time, or alarmed by
CUSUM is closed: scored, its evaluation handed to the listeners. The next
window starts then, by the engine's clock (``clock.py``), judged against the
profile slot it starts in (``profiles.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from opentelemetry.trace import SpanContext

from otel_drift._internal.engine.clock import SYSTEM_CLOCK, Clock
from otel_drift._internal.engine.constraints import Violations, check_labels, check_numeric
from otel_drift._internal.engine.intake import Batch, MatrixRoute
from otel_drift._internal.engine.profiles import SlotSwitch
from otel_drift._internal.engine.results import (
    Listener,
    ValueListener,
    Violation,
    ViolationListener,
    WindowEvaluation,
)
from otel_drift._internal.engine.segments import Segments, segment_attributes
from otel_drift._internal.engine.shape_watch import merge as merge_violations
from otel_drift._internal.engine.shape_watch import shape_labels
from otel_drift._internal.engine.sources import span_rows
from otel_drift._internal.engine.watch_state import WatchEvaluation, WatchState
from otel_drift._internal.engine.window_scores import WindowScorer
from otel_drift._internal.engine.worker import Closing, Item, Worker
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile
from otel_drift._internal.values import NumericColumn, category_column, numeric_column

#: Rows kept per violation rule and batch for pointing at offending spans.
VIOLATION_POSITIONS_PER_BATCH = 32
#: Consecutive batches are concatenated and fed as one up to this many rows:
#: enough to amortize the per-batch cost of small ones, while larger ones go
#: as they are (concatenating them would only add a copy).
MAX_COALESCED_ROWS = 1024


class ExpectationState:
    """One expectation's watched values and its open window."""

    def __init__(self, expectation: Expectation, max_categories: int, clock: Clock) -> None:
        self.expectation = expectation
        self.watches = tuple(WatchState(expectation, w, max_categories) for w in expectation.watch)
        self.scorer = WindowScorer(self.watches)
        self.slots = SlotSwitch(self.watches)
        attributes = segment_attributes(expectation)
        #: Counts per segment of span rows, when the expectation is explained by attributes.
        self.segments = Segments(attributes, self.watches) if attributes else None
        #: Matrix routes by (matrix positions, value listeners present); few layouts per model.
        self.matrix_routes: dict[tuple[tuple[int, ...], bool], MatrixRoute] = {}
        self.evaluations = 0
        self.open(clock.time_ns(), clock.monotonic())

    def open(self, start_ns: int, start_monotonic: float) -> None:
        """Start the next window at ``start_ns``, judged by the profile slots it starts in."""
        self.spans = 0
        self.start_ns = start_ns
        self.start_monotonic = start_monotonic
        if self.slots.open(start_ns):
            # The stacked scorer copies the expected vectors it is built with.
            self.scorer = WindowScorer(self.watches)

    def room(self) -> int:
        spans = self.expectation.window.spans
        return spans - self.spans if spans is not None else 1 << 62

    def time_due(self, now: float) -> bool:
        seconds = self.expectation.window.seconds
        return (
            seconds is not None
            and now - self.start_monotonic >= seconds
            and self.spans >= self.expectation.min_samples
        )


class Windows:
    """The expectations' windows, fed and closed on the worker (with its lock held)."""

    def __init__(
        self,
        expectations: ExpectationsFile,
        max_categories: int,
        worker: Worker,
        release: Callable[[Batch], None],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._expectations = expectations.expectations
        self._clock = clock
        self._max_categories = max_categories
        self._worker = worker
        self._release = release
        self.listeners: list[Listener] = []
        self.violation_listeners: list[ViolationListener] = []
        self.value_listeners: list[ValueListener] = []
        self.history: deque[WindowEvaluation] = deque(maxlen=1000)
        self.reset()

    def reset(self) -> None:
        """Open every window afresh (in a forked child: the parent reports its own)."""
        self.states = [
            ExpectationState(e, self._max_categories, self._clock) for e in self._expectations
        ]
        self.history.clear()

    # -- feeding -------------------------------------------------------------

    def feed(self, items: list[Item]) -> None:
        """Feed what the worker took from the queue, expectation by expectation."""
        if not items:
            return
        grouped: dict[int, list[Item]]
        if len(self.states) == 1:
            grouped = {0: items}  # one expectation: nothing to sort out
        else:
            grouped = {}
            for item in items:
                grouped.setdefault(item[0], []).append(item)
        for index, group in grouped.items():
            try:
                self._feed(self.states[index], group)
            except Exception:
                self._worker.count_error("worker")

    def _feed(self, state: ExpectationState, items: list[Item]) -> None:
        rows: list[Item] = []
        batches: list[Batch] = []
        layout: tuple[object, ...] = ()
        batched_rows = 0
        for item in items:
            payload = item[2]
            if type(payload) is Batch:
                self._feed_rows(state, rows)
                rows = []
                self._worker.batch_taken(payload)
                # Consecutive batches of one layout are fed as one: small model
                # calls (a row each) would otherwise pay the per-batch cost per row.
                payload_layout = payload.layout()
                if batches and (
                    payload_layout != layout or batched_rows + payload.rows > MAX_COALESCED_ROWS
                ):
                    self._feed_batches(state, batches)
                    batches = []
                    batched_rows = 0
                batches.append(payload)
                layout = payload_layout
                batched_rows += payload.rows
            else:
                if batches:
                    self._feed_batches(state, batches)
                    batches = []
                    batched_rows = 0
                rows.append(item)
        if batches:
            self._feed_batches(state, batches)
        self._feed_rows(state, rows)

    def _feed_batches(self, state: ExpectationState, batches: list[Batch]) -> None:
        """Feed batches of one layout as one, then hand their matrix buffers back."""
        try:
            self._feed_batch(state, Batch.concatenate(batches))
        finally:
            for batch in batches:
                self._release(batch)

    def _feed_rows(self, state: ExpectationState, rows: list[Item]) -> None:
        if not rows:
            return
        contexts = [row[1] for row in rows]
        columns = [[row[2][position] for row in rows] for position in range(len(state.watches))]
        if state.segments is not None:
            # A span's row (``Rows.values``) carries its segments' values after its watched
            # values; values handed over otherwise have none.
            for position in range(len(columns), len(columns) + len(state.segments.attributes)):
                columns.append([_at(row[2], position) for row in rows])
        self._feed_columns(state, contexts, columns)

    def feed_columns(
        self, index: int, contexts: list[SpanContext | None], columns: Sequence[list[object]]
    ) -> None:
        """Feed span rows to expectation ``index`` (see ``DriftEngine.feed_columns``):
        a column per watched value, then one per segment attribute, if any."""
        try:
            self._feed_columns(self.states[index], contexts, columns)
        except Exception:
            self._worker.count_error("worker")

    def _feed_columns(
        self,
        state: ExpectationState,
        contexts: list[SpanContext | None],
        columns: Sequence[list[object]],
    ) -> None:
        total = len(contexts)
        start = 0
        watched = len(state.watches)
        segments = state.segments if len(columns) > watched else None
        while start < total:
            end = min(total, start + state.room())
            if start == 0 and end == total:
                chunk_contexts, chunk = contexts, columns
            else:
                chunk_contexts = contexts[start:end]
                chunk = [column[start:end] for column in columns]
            if segments is not None:
                segments.begin(chunk[watched:])
            try:
                for watch_state, raw in zip(state.watches, chunk[:watched], strict=True):
                    self._apply(state, watch_state, raw, chunk_contexts)
            finally:
                if segments is not None:
                    segments.end()
            self._advance(state, end - start)
            start = end

    def _feed_batch(self, state: ExpectationState, batch: Batch) -> None:
        route: MatrixRoute | None = None
        if batch.matrix is not None:
            key = (batch.matrix_positions, bool(self.value_listeners))
            route = state.matrix_routes.get(key)
            if route is None:
                route = state.matrix_routes[key] = MatrixRoute(
                    state.watches, batch.matrix_positions, bool(self.value_listeners)
                )
        in_matrix = set(batch.matrix_positions)
        # The rows each window takes: what is left of the open one, then whole ones.
        # (Only the last part can leave a window open, so a CUSUM alarm, which
        # closes a window early, cannot move a boundary.)
        parts: list[int] = []
        room, full = state.room(), state.expectation.window.spans
        left = batch.rows
        while left > 0:
            parts.append(min(room, left))
            left -= parts[-1]
            room = full if full is not None else 1 << 62
        banked_counts = None
        if route is not None and route.bank is not None and batch.matrix is not None:
            matrix = batch.matrix
            banked = matrix if route.banked_columns is None else matrix[:, route.banked_columns]
            # Binned once for all the windows the batch straddles.
            banked_counts = route.bank.count(banked, parts)
        start = 0
        for part, take in enumerate(parts):
            if route is not None and batch.matrix is not None:
                block = batch.matrix[start : start + take]
                if route.bank is not None and banked_counts is not None:
                    route.bank.add(banked_counts[part])
                    for position in route.banked_positions:
                        state.watches[position].count_binned(take)
                for position, matrix_column in route.single:
                    self._apply(state, state.watches[position], block[:, matrix_column], None)
            for position, watch_state in enumerate(state.watches):
                if position in in_matrix:
                    continue
                column = batch.columns.get(position)
                if column is None:
                    # No column for this watched value: every row is missing it.
                    watch_state.add_labels([], take, 0)
                    continue
                self._apply(state, watch_state, column[start : start + take], None)
            start += take
            self._advance(state, take)

    def _advance(self, state: ExpectationState, rows: int) -> None:
        state.spans += rows
        full = state.room() <= 0
        alarm = any(w.cusum_alarm() for w in state.watches)
        if full or alarm:
            self._close(state, partial=False)

    # -- one column into one watched value -----------------------------------

    def _apply(
        self,
        state: ExpectationState,
        watch_state: WatchState,
        raw: Sequence[object] | np.ndarray[Any, Any],
        contexts: list[SpanContext | None] | None,
    ) -> None:
        watch = watch_state.watch
        kind = watch.source.kind
        violations: Violations
        if isinstance(raw, np.ndarray) and raw.dtype.kind in "fiu" and watch.kind == "numeric":
            # Vectorized batch of plain numbers: no per-row conversion at all.
            numbers = NumericColumn(raw.astype(np.float64, copy=False), None, 0, 0)
            # A numeric array holds numbers only: the type rule has nothing to see.
            violations = check_numeric(
                watch.constraints, (), numbers, VIOLATION_POSITIONS_PER_BATCH
            )
            self._add_numbers(watch_state, numbers)
            self._record_violations(state, watch_state, violations, numbers.values, contexts)
            return
        raw_seq: Sequence[object] = raw.tolist() if isinstance(raw, np.ndarray) else raw
        if kind == "json.shape":
            # Shape ids -> "expected" or the id, plus shape.* violations (shape_watch.py).
            raw_seq, shape_violations = shape_labels(watch, raw_seq, VIOLATION_POSITIONS_PER_BATCH)
        elif kind in ("span.status", "http.status_class") or (
            # Span rows carry nanoseconds; observe()'s columns are in the watch's
            # unit already, whichever path (numeric array or list) they take.
            kind == "span.duration" and contexts is not None
        ):
            raw_seq = span_rows(watch, raw_seq)
        if watch.kind == "numeric":
            numbers = numeric_column(raw_seq)
            violations = check_numeric(
                watch.constraints, raw_seq, numbers, VIOLATION_POSITIONS_PER_BATCH
            )
            self._add_numbers(watch_state, numbers)
            if state.segments is not None and state.segments.open:
                state.segments.add_numbers(watch_state, numbers.values, numbers.positions)
        else:
            labels = category_column(raw_seq)
            violations = check_labels(
                watch.constraints, raw_seq, labels, VIOLATION_POSITIONS_PER_BATCH
            )
            if kind == "json.shape":
                violations = merge_violations(violations, shape_violations)
            watch_state.add_labels(labels.values, labels.missing, labels.invalid)
            if state.segments is not None and state.segments.open:
                state.segments.add_labels(watch_state, labels.values, labels.positions)
        self._record_violations(state, watch_state, violations, raw_seq, contexts)

    def _add_numbers(self, watch_state: WatchState, numbers: NumericColumn) -> None:
        watch_state.add_numbers(numbers.values, numbers.missing, numbers.invalid)
        for listener in self.value_listeners:
            try:
                listener(watch_state, numbers.values)
            except Exception:
                self._worker.count_error("value listener")

    def _record_violations(
        self,
        state: ExpectationState,
        watch_state: WatchState,
        violations: Violations,
        raw: Sequence[object] | np.ndarray[Any, Any],
        contexts: list[SpanContext | None] | None,
    ) -> None:
        if not violations:
            return
        watch_state.violations.update(violations.counts)
        if not self.violation_listeners:
            return
        found = [
            Violation(
                expectation=state.expectation.name,
                watch=watch_state.watch.name,
                rule=rule,
                value=_item(raw, position),
                span_context=contexts[position] if contexts is not None else None,
            )
            for rule, positions in violations.positions.items()
            for position in positions
        ]
        for listener in self.violation_listeners:
            try:
                listener(found)
            except Exception:
                self._worker.count_error("violation listener")

    # -- closing -------------------------------------------------------------

    def close(self, closing: Closing) -> None:
        """Close the windows a pass closes (``worker.Closing``; why a flush leaves
        windows under ``min_samples`` open: ``DriftEngine.force_flush``)."""
        if closing == "due":
            now = self._clock.monotonic()
            for state in self.states:
                if state.time_due(now):
                    self._close(state, partial=False)
            return
        for state in self.states:
            enough = state.spans >= state.expectation.min_samples
            if state.spans > 0 and (closing == "all" or enough):
                self._close(state, partial=True)

    def _explain(
        self,
        segments: Segments,
        watches: Sequence[WatchState],
        evaluations: Sequence[WatchEvaluation],
    ) -> None:
        """Name the segments that carried each drifting window (``segments.py``), then
        forget the window's segments; an error costs the explanation, never the window."""
        try:
            for watch, evaluation in zip(watches, evaluations, strict=True):
                if evaluation.level >= 1:
                    evaluation.explained = segments.explain(watch)
        except Exception:
            self._worker.count_error("segments")
        finally:
            segments.reset()

    def _close(self, state: ExpectationState, *, partial: bool) -> None:
        now_ns = self._clock.time_ns()
        results = state.scorer.score(state.watches)
        evaluations = tuple(
            watch.finish_window(result)
            for watch, result in zip(state.watches, results, strict=True)
        )
        if state.segments is not None:
            self._explain(state.segments, state.watches, evaluations)
        window = WindowEvaluation(
            expectation=state.expectation.name,
            start_time_ns=state.start_ns,
            end_time_ns=max(now_ns, state.start_ns),
            spans=state.spans,
            watches=evaluations,
            partial=partial,
        )
        state.open(now_ns, self._clock.monotonic())
        state.evaluations += 1
        self.history.append(window)
        for listener in self.listeners:
            try:
                listener(window)
            except Exception:
                self._worker.count_error("listener")


def _at(values: tuple[object, ...], position: int) -> object:
    return values[position] if position < len(values) else None


def _item(raw: Sequence[object] | np.ndarray[Any, Any], position: int) -> object:
    try:
        value = raw[position]
    except IndexError:
        return None
    return value.item() if isinstance(value, np.generic) else value
