"""``observe`` and ``observe_matrix``: whole columns handed over by code, queued as a Batch.

An ML instrumentation (or any caller) hands over a batch of rows at once. The
intake finds each watched value's column, copies it (the caller may reuse its
array before the worker gets to it), keeps an evenly spaced sample of large
batches (``max_batch_rows``, the rows left out counted), and queues one
:class:`Batch`. A feature matrix is copied once, whole, into a reused buffer;
how its columns map to watched values is worked out once per mapping
(:class:`MatrixLayout`), and how the worker reads them once per layout
(:class:`MatrixRoute`). Runs on the caller's thread: never raises.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from otel_drift._internal.engine.watch_state import WatchState
from otel_drift._internal.expectations.model import Expectation, ExpectationsFile, Watch
from otel_drift._internal.settings import Settings
from otel_drift._internal.sketches import HistogramBank

_logger = logging.getLogger(__name__)

#: Float64 values (32 MB) the free lists of observe_matrix buffers may hold.
MAX_POOLED_VALUES = 1 << 22
#: Smaller copies (under 32 KB) are not pooled: malloc reuses them without faults.
MIN_POOLED_VALUES = 1 << 12
#: Distinct observe_matrix layouts remembered per expectation.
MAX_MATRIX_LAYOUTS = 64

Column = np.ndarray[Any, Any] | list[object]
Matrix = np.ndarray[Any, np.dtype[np.float64]]


class Batch:
    """Whole columns handed over by code (an ML batch), keyed by watch index.

    ``matrix`` (float64, rows x k, C order) holds the numeric columns of the
    watched values in ``matrix_positions``, one matrix column each.
    """

    __slots__ = ("columns", "matrix", "matrix_positions", "rows")

    def __init__(
        self,
        columns: dict[int, Column],
        rows: int,
        matrix: Matrix | None = None,
        matrix_positions: tuple[int, ...] = (),
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.matrix = matrix
        self.matrix_positions = matrix_positions

    @property
    def values(self) -> int:
        """Values in ``matrix`` (what its buffer holds)."""
        return 0 if self.matrix is None else self.matrix.size

    def layout(self) -> tuple[object, ...]:
        """Batches with equal layouts can be concatenated row-wise."""
        return (
            self.matrix_positions,
            tuple(
                (position, column.dtype.kind if isinstance(column, np.ndarray) else "list")
                for position, column in self.columns.items()
            ),
        )

    @staticmethod
    def concatenate(batches: Sequence[Batch]) -> Batch:
        """One batch holding ``batches``' rows in order (all of one layout)."""
        first = batches[0]
        if len(batches) == 1:
            return first
        columns: dict[int, Column] = {}
        for position, column in first.columns.items():
            parts = [batch.columns[position] for batch in batches]
            if isinstance(column, np.ndarray):
                columns[position] = np.concatenate(parts)  # type: ignore[arg-type]
            else:
                columns[position] = [value for part in parts for value in part]
        matrix = None
        if first.matrix is not None:
            matrix = np.concatenate([batch.matrix for batch in batches])
        rows = sum(batch.rows for batch in batches)
        return Batch(columns, rows, matrix, first.matrix_positions)


class MatrixBuffers:
    """Float64 buffers that observe_matrix copies into, handed back by the worker.

    A fresh array of a few hundred KB is new memory (malloc maps it): writing
    it costs a page fault per 4 KB, about 100-200 µs for a 1024 x 30 batch
    here, ten times the copy itself. Reused buffers keep the caller's cost at
    the copy. Only such large buffers are kept (smaller ones come from malloc's
    heap, reused without faults), in power-of-two size classes, and what the
    free lists hold is bounded (``MAX_POOLED_VALUES``).
    """

    def __init__(self) -> None:
        self._free: dict[int, list[Matrix]] = {}
        self._pooled = 0
        self._lock = threading.Lock()

    def take(self, rows: int, width: int) -> Matrix:
        size = rows * width
        if size < MIN_POOLED_VALUES:
            return np.empty((rows, width), dtype=np.float64)
        size_class = 1 << (size - 1).bit_length()
        buffer = None
        with self._lock:
            free = self._free.get(size_class)
            if free:
                buffer = free.pop()
                self._pooled -= size_class
        if buffer is None:
            buffer = np.empty(size_class, dtype=np.float64)
        return buffer[:size].reshape(rows, width)

    def give(self, matrix: Matrix) -> None:
        buffer = matrix.base
        if not isinstance(buffer, np.ndarray) or buffer.base is not None:
            return  # not one of ours (a small batch, a concatenation)
        with self._lock:
            if self._pooled + buffer.size <= MAX_POOLED_VALUES:
                self._free.setdefault(buffer.size, []).append(buffer)
                self._pooled += buffer.size


class MatrixLayout:
    """Where one observe_matrix mapping puts an expectation's watched values.

    ``positions`` is None for a mapping that points outside the matrix.
    """

    __slots__ = ("columns", "extra", "mapping", "positions", "whole", "width")

    def __init__(
        self,
        mapping: Mapping[str, int],
        width: int,
        positions: tuple[int, ...] | None,
        columns: list[int],
    ) -> None:
        #: A copy of the caller's mapping: a mapping changed in place no longer equals it.
        self.mapping = dict(mapping)
        self.width = width
        self.positions = positions
        self.columns = columns
        #: Every matrix column, in order: the copy needs no gather.
        self.whole = columns == list(range(width))
        #: observe_matrix's ``columns`` keys -> (watch position, key) it reads.
        self.extra: dict[tuple[str, ...], list[tuple[int, str]]] = {}


class MatrixRoute:
    """Which way the worker sends each column of a matrix batch of one layout.

    The numeric, binned watched values with nothing else to do per value (no
    constraints, no CUSUM, no value listeners) are counted together by a
    :class:`HistogramBank`; the others get their matrix column one by one.
    """

    def __init__(
        self, watches: Sequence[WatchState], positions: tuple[int, ...], listeners: bool
    ) -> None:
        banked: list[int] = []
        self.banked_positions: list[int] = []
        self.single: list[tuple[int, int]] = []  # (watch position, matrix column)
        for column, position in enumerate(positions):
            watch_state = watches[position]
            watch = watch_state.watch
            if (
                not listeners
                and watch.kind == "numeric"
                and watch_state.histogram is not None
                and watch_state.cusum is None
                and watch.constraints.empty
            ):
                banked.append(column)
                self.banked_positions.append(position)
            else:
                self.single.append((position, column))
        width = len(positions)
        # All columns banked in order: the block is used as it is, no gather.
        self.banked_columns: list[int] | None = None if banked == list(range(width)) else banked
        self.bank = (
            HistogramBank([watches[p].histogram for p in self.banked_positions])  # type: ignore[misc]
            if banked
            else None
        )


class Intake:
    """``DriftEngine.observe`` and ``observe_matrix`` on the caller's thread.

    Queues through ``enqueue`` (False: the queue refused the batch and counted
    it), reports sampled-out rows to ``count_sampled_out`` and swallowed
    errors to ``count_error``.
    """

    def __init__(
        self,
        expectations: ExpectationsFile,
        index: Mapping[str, int],
        settings: Settings,
        *,
        enqueue: Callable[[int, Batch], bool],
        count_sampled_out: Callable[[int, int], None],
        count_error: Callable[[str], None],
    ) -> None:
        self._expectations = expectations.expectations
        self._index = index
        self._max_batch_rows = settings.max_batch_rows
        self._enqueue = enqueue
        self._count_sampled_out = count_sampled_out
        self._count_error = count_error
        self.reset()

    def reset(self) -> None:
        """Start afresh (in a forked child: the parent's locks may be held)."""
        self._buffers = MatrixBuffers()
        self._random = random.Random()
        #: observe_matrix layouts by the id of the caller's mapping (checked by
        #: equality on use), then by (width, mapping items); per expectation.
        self._layouts_by_id: list[dict[int, MatrixLayout]] = [{} for _ in self._expectations]
        self._layouts: list[dict[tuple[object, ...], MatrixLayout]] = [
            {} for _ in self._expectations
        ]

    def release(self, batch: Batch) -> None:
        """Take back a fed batch's matrix buffer for the next observe_matrix."""
        if batch.matrix is not None:
            self._buffers.give(batch.matrix)

    def observe(
        self,
        expectation: str,
        columns: Mapping[str, ArrayLike | Sequence[object]],
        rows: int | None,
    ) -> bool:
        try:
            index = self._index.get(expectation)
            if index is None:
                _logger.debug("otel-drift: observe() for unknown expectation %r", expectation)
                return False
            batch_columns: dict[int, Column] = {}
            n = rows
            for position, watch in enumerate(self._expectations[index].watch):
                column = _find_column(watch, columns)
                if column is None:
                    continue
                array = _copy_column(column)
                length = len(array)
                if n is None:
                    n = length
                elif length != n:
                    _logger.warning(
                        "otel-drift: observe(%r): column %r has %d rows, not %d; batch dropped",
                        expectation,
                        watch.name,
                        length,
                        n,
                    )
                    return False
                batch_columns[position] = array
            if n is None or n == 0:
                return True
            sample = self._sample(index, n)
            if sample is not None:
                batch_columns = {p: column[sample] for p, column in batch_columns.items()}
                n = len(range(n)[sample])
            return self._enqueue(index, Batch(batch_columns, n))
        except Exception:
            self._count_error("observe")
            return False

    def _sample(self, index: int, rows: int) -> slice | None:
        """The rows of a batch of ``rows`` that are observed (None: all of them).

        Evenly spaced from a random start, at most ``max_batch_rows``: what a
        batch costs stays bounded, and a batch sorted or grouped by some key
        is still seen across its whole length. The rest are counted.
        """
        cap = self._max_batch_rows
        if cap == 0 or rows <= cap:
            return None
        step = -(-rows // cap)
        start = int(self._random.random() * step)  # randrange costs 5x more
        self._count_sampled_out(index, rows - (rows - start + step - 1) // step)
        return slice(start, None, step)

    def observe_matrix(
        self,
        expectation: str,
        matrix: ArrayLike,
        columns_of: Mapping[str, int],
        columns: Mapping[str, ArrayLike | Sequence[object]] | None,
    ) -> bool:
        try:
            index = self._index.get(expectation)
            if index is None:
                _logger.debug("otel-drift: observe() for unknown expectation %r", expectation)
                return False
            array = np.asarray(matrix)
            if array.ndim != 2 or array.dtype.kind not in "fiub":
                _logger.warning(
                    "otel-drift: observe_matrix(%r) takes a 2-D numeric matrix, got shape %s "
                    "of dtype %s; batch dropped (use observe() with one column per value)",
                    expectation,
                    array.shape,
                    array.dtype,
                )
                return False
            width = array.shape[1]
            layout = self._layouts_by_id[index].get(id(columns_of))
            if layout is None or layout.width != width or layout.mapping != columns_of:
                layout = self._layout(index, width, columns_of)
            positions = layout.positions
            if positions is None:
                return False
            rows = array.shape[0]
            if rows == 0:
                return True
            batch_columns: dict[int, Column] = {}
            if columns:
                for position, key in self._extra_columns(index, layout, columns):
                    column = columns[key]
                    if column is None:
                        continue  # this batch has none: every row is missing it
                    copied = _copy_column(column)
                    if len(copied) != rows:
                        _logger.warning(
                            "otel-drift: observe_matrix(%r): column %r has %d rows, not %d; "
                            "batch dropped",
                            expectation,
                            key,
                            len(copied),
                            rows,
                        )
                        return False
                    batch_columns[position] = copied
            sample = self._sample(index, rows)
            if sample is not None:
                array = array[sample]  # a view: only the sampled rows are copied below
                batch_columns = {p: column[sample] for p, column in batch_columns.items()}
                rows = array.shape[0]
            # Copied (the caller may reuse its array), once, whole, into a reused buffer
            # (item assignment: np.copyto's argument handling costs 4x more on small ones).
            data = self._buffers.take(rows, len(positions))
            data[...] = array if layout.whole else array[:, layout.columns]
            return self._enqueue(index, Batch(batch_columns, rows, data, positions))
        except Exception:
            self._count_error("observe_matrix")
            return False

    def _extra_columns(
        self,
        index: int,
        layout: MatrixLayout,
        columns: Mapping[str, ArrayLike | Sequence[object]],
    ) -> list[tuple[int, str]]:
        """(watch position, key in ``columns``) of the watched values ``columns``
        gives that the matrix does not, remembered per set of keys."""
        keys = tuple(columns)
        found = layout.extra.get(keys)
        if found is None:
            taken = set(layout.positions or ())
            found = []
            for position, watch in enumerate(self._expectations[index].watch):
                if position not in taken:
                    key = _find_key(watch, columns)
                    if key is not None:
                        found.append((position, key))
            if len(layout.extra) >= MAX_MATRIX_LAYOUTS:
                layout.extra.clear()
            layout.extra[keys] = found
        return found

    def _layout(self, index: int, width: int, columns_of: Mapping[str, int]) -> MatrixLayout:
        """The layout of ``columns_of``, remembered per distinct mapping (and per
        mapping object, which a caller that keeps its mapping finds at once).

        Its ``positions`` are None when the mapping points outside the matrix
        (warned once per distinct mapping).
        """
        key = (width, tuple(columns_of.items()))
        layouts = self._layouts[index]
        layout = layouts.get(key)
        if layout is None:
            layout = _new_layout(self._expectations[index], width, columns_of)
            if len(layouts) >= MAX_MATRIX_LAYOUTS:
                layouts.clear()
            layouts[key] = layout
        by_id = self._layouts_by_id[index]
        if len(by_id) >= MAX_MATRIX_LAYOUTS:
            by_id.clear()
        by_id[id(columns_of)] = layout
        return layout


def _new_layout(
    expectation: Expectation, width: int, columns_of: Mapping[str, int]
) -> MatrixLayout:
    positions: list[int] = []
    matrix_columns: list[int] = []
    for position, watch in enumerate(expectation.watch):
        column = _find_column(watch, columns_of)
        if column is None:
            continue
        if not isinstance(column, int) or not 0 <= column < width:
            _logger.warning(
                "otel-drift: observe_matrix(%r): column %r for %r is not an index into "
                "a matrix of %d columns; its batches are dropped (fix the columns_of mapping)",
                expectation.name,
                column,
                watch.name,
                width,
            )
            break
        positions.append(position)
        matrix_columns.append(column)
    else:
        return MatrixLayout(columns_of, width, tuple(positions), matrix_columns)
    return MatrixLayout(columns_of, width, None, [])


def _find_column(
    watch: Watch, columns: Mapping[str, ArrayLike | Sequence[object]]
) -> ArrayLike | Sequence[object] | None:
    key = _find_key(watch, columns)
    return None if key is None else columns[key]


def _find_key(watch: Watch, columns: Mapping[str, object]) -> str | None:
    """The key of ``columns`` that holds ``watch``'s column: its name, else a source attribute."""
    for name in (watch.name, *watch.source.attributes):
        if columns.get(name) is not None:
            return name
    return None


def _copy_column(column: ArrayLike | Sequence[object]) -> Column:
    # Copied: the caller may reuse its buffer before the worker gets to it.
    if isinstance(column, np.ndarray):
        return column.reshape(-1).copy() if column.dtype.kind in "fiub" else column.tolist()
    array = np.asarray(column)
    if array.dtype.kind in "fiu":
        return array.reshape(-1).astype(np.float64)
    return list(column) if isinstance(column, Sequence) else array.reshape(-1).tolist()
