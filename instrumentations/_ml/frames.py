"""A pandas DataFrame read once per call: one float64 block and the watched other columns.

Reading a DataFrame column by column costs a pandas ``Series`` per column
(``frame.iloc[:, i]``: 10-30 µs each here, 20 of the 33 seconds of 3,000
predicts in the profile of issue 17). Here a call's frame is converted once:
its numeric columns (numpy floats, ints, bools, nullable numbers) in one
``to_numpy(dtype=float64)`` per contiguous run of them (one call for an
all-numeric frame: ~2 µs for 1,024 x 30, the data copied once), and only the
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

    __slots__ = ("block_index", "columns", "index", "names", "runs")

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
        parts = [
            frame.iloc[:, start:stop].to_numpy(dtype=np.float64, na_value=np.nan)
            for start, stop in runs
        ]
        return np.ascontiguousarray(np.hstack(parts))


#: The process's layouts (columns lists are few; shared by every instrumentation).
FRAMES = FrameLayouts()


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
