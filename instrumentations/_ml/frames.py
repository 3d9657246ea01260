"""A pandas DataFrame read once per call: one float64 block and the watched other columns.

Reading a DataFrame column by column costs a pandas ``Series`` per column
(``frame.iloc[:, i]``: 10-30 µs each here, 20 of the 33 seconds of 3,000
predicts in the profile of issue 17). Here a call's frame is converted once:
its numeric columns (numpy floats, ints, bools, nullable numbers) as one
float64 block: one ``to_numpy(dtype=float64)`` for an all-numeric frame
(~2 µs for 1,024 x 30, the data copied once), else one copy per pandas dtype
block (:func:`_from_dtype_blocks`, ~5 µs beside a categorical), and only the
watched non-numeric columns (categoricals, strings, objects) one by one, each
once. Which column is which is worked out once per column list
(:class:`FrameLayout`, cached by the columns' values and found again through
``Index.equals``, 0.4 µs, rather than by building a tuple of names, 8 µs);
the frame's ``dtypes`` are not read per call (20 µs): a frame whose dtypes
changed under the same columns fails the block conversion and gets a fresh
layout. :data:`FRAMES` counts the conversions, so a test can hold the
once-per-call promise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: A numpy array of any dtype (a column, a block, a model's input).
Array = np.ndarray[Any, Any]

#: Distinct column lists whose layouts are remembered.
MAX_LAYOUTS = 256


class FrameLayout:
    """Where a DataFrame's columns go: numeric runs into one block, the rest one by one."""

    __slots__ = ("block_index", "columns", "index", "names", "runs", "target_of")

    def __init__(self, frame: Any, names: tuple[str, ...]) -> None:
        #: The frame's column Index (compared with the next frame's).
        self.columns = frame.columns
        self.names = names
        self.index = {name: i for i, name in enumerate(names)}
        numeric = [_numeric(dtype) for dtype in frame.dtypes.tolist()]
        #: (start, stop) of each run of numeric columns, in order.
        self.runs: list[tuple[int, int]] = []
        start = None
        for position, is_numeric in enumerate([*numeric, False]):
            if is_numeric and start is None:
                start = position
            elif not is_numeric and start is not None:
                self.runs.append((start, position))
                start = None
        #: Input column position -> column of the numeric block.
        self.block_index: dict[int, int] = {}
        for start, stop in self.runs:
            for position in range(start, stop):
                self.block_index[position] = len(self.block_index)
        #: The same as an array over input positions (-1: not in the block).
        self.target_of = np.full(len(names), -1, dtype=np.intp)
        for position, column in self.block_index.items():
            self.target_of[position] = column


class FrameLayouts:
    """The layouts seen, and how many conversions were made (for tests)."""

    def __init__(self) -> None:
        self._by_names: dict[tuple[str, ...], FrameLayout] = {}
        self._last: FrameLayout | None = None
        #: Frames converted (one per observed call), and numeric blocks made.
        self.conversions = 0
        self.blocks = 0

    def layout(self, frame: Any, fresh: bool = False) -> FrameLayout:
        last = self._last
        columns = frame.columns
        same = last is not None and (last.columns is columns or last.columns.equals(columns))
        if same and not fresh and last is not None:
            return last
        names = tuple(str(c) for c in columns.tolist())
        found = None if fresh else self._by_names.get(names)
        if found is None:
            found = FrameLayout(frame, names)
            if len(self._by_names) >= MAX_LAYOUTS:
                self._by_names.clear()
            self._by_names[names] = found
        self._last = found
        return found

    def numeric_block(self, frame: Any, layout: FrameLayout) -> tuple[FrameLayout, Array | None]:
        """The numeric columns as one float64 ``(rows, k)`` block (None: there are none)."""
        self.conversions += 1
        try:
            return layout, self._block(frame, layout)
        except (TypeError, ValueError):
            # Same columns, other dtypes than when the layout was made: read them again.
            layout = self.layout(frame, fresh=True)
            return layout, self._block(frame, layout)

    def _block(self, frame: Any, layout: FrameLayout) -> Array | None:
        runs = layout.runs
        if not runs:
            return None
        self.blocks += 1
        width = frame.shape[1]
        if runs == [(0, width)]:
            return np.asarray(frame.to_numpy(dtype=np.float64, na_value=np.nan))
        block = _from_dtype_blocks(frame, layout)
        if block is not None:
            return block
        parts = [
            frame.iloc[:, start:stop].to_numpy(dtype=np.float64, na_value=np.nan)
            for start, stop in runs
        ]
        return np.ascontiguousarray(np.hstack(parts))


#: The process's layouts (columns lists are few; shared by every instrumentation).
FRAMES = FrameLayouts()


def _from_dtype_blocks(frame: Any, layout: FrameLayout) -> Array | None:
    """The numeric columns of a mixed frame from pandas' own blocks (one 2-D array per
    dtype), each block copied once: ~5 µs for 1 x 30 floats beside a categorical,
    against ~100 µs for ``frame.iloc[:, 1:31].to_numpy()`` (a frame built per run).

    The blocks are pandas' internals (``DataFrame._mgr.blocks``, there from pandas
    1 to 3): None, and the public path, when they are not as expected.
    """
    blocks = getattr(getattr(frame, "_mgr", None), "blocks", None)
    if blocks is None:
        return None
    target_of = layout.target_of
    out = np.empty((frame.shape[0], len(layout.block_index)), dtype=np.float64)
    filled = 0
    for block in blocks:
        targets = target_of[np.asarray(block.mgr_locs.as_array)]
        numeric = targets >= 0
        if not numeric.any():
            continue  # a categorical's, a string column's block
        values = block.values
        count = targets.shape[0]
        if isinstance(values, np.ndarray) and values.ndim == 2:
            first = int(targets[0])
            if numeric.all() and int(targets[-1]) - first == count - 1:
                out[:, first : first + count] = values.T  # in order: a slice, not an index
            elif numeric.all():
                out[:, targets] = values.T
            else:
                out[:, targets[numeric]] = values[numeric].T
        elif count == 1:  # one extension column (nullable Int64, Float64)
            out[:, targets[0]] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            return None
        filled += int(numeric.sum())
    return out if filled == out.shape[1] else None


def other_column(frame: Any, position: int) -> Array:
    """A non-numeric column as an object array, missing values as None (converted once)."""
    series = frame.iloc[:, position]
    values = series.array
    codes = getattr(values, "codes", None)
    if codes is not None:  # a Categorical: its labels taken by code, -1 (missing) as None
        labels = np.asarray(values.categories.to_numpy(dtype=object, na_value=None), dtype=object)
        codes = np.asarray(codes)
        column = np.empty(codes.shape[0], dtype=object)
        present = codes >= 0
        column[present] = labels[codes[present]]
        return column
    return np.asarray(series.to_numpy(dtype=object, na_value=None))


def _numeric(dtype: Any) -> bool:
    """numpy numbers and bools, and pandas' nullable ones (NA becomes NaN)."""
    kind = getattr(dtype, "kind", "O")
    if isinstance(dtype, np.dtype):
        return kind in "fiub"
    # Extension dtypes: nullable Int64/Float64 (NA becomes NaN, a missing number).
    # Nullable booleans stay labels ("true", "false", missing), as categoricals do.
    return kind in "fiu"
