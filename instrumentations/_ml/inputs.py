"""Model inputs as columns: numpy arrays, pandas DataFrames, lists, torch tensors, sparse.

Only the columns an expectation watches are ever taken out, each as one numpy
array (a view where possible): no per-row Python. A pandas DataFrame is
converted once per call (``frames.py``): its numeric columns as one float64
block, its watched other columns once each. Feature names come from a
DataFrame's columns, else from the model (``feature_names_in_``, a Booster's
``feature_names``), else a feature is known by its column index only.

Sparse input (``scipy.sparse``) is never densified as a whole: the matrix is
converted to CSC once and each watched column is read on its own, implicit
entries as zeros (as scipy means them; an XGBoost DMatrix's implicit entries
are its missing values, read as NaN). Input of more than two dimensions (images) is read as
``(rows, -1)``, so a feature index is a flattened position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .frames import FRAMES, FrameLayout, other_column
from .frames import Array as Array  # noqa: PLC0414 - re-exported: _ml modules name it here


def to_numpy(value: object) -> Array | None:
    """A numpy view of an array-like (torch tensors, pandas objects, lists); None if not one."""
    if isinstance(value, np.ndarray):
        return value
    detach = getattr(value, "detach", None)
    if detach is not None and hasattr(value, "cpu"):  # a torch tensor
        tensor = detach().cpu()
        if str(getattr(tensor, "dtype", "")) == "torch.bfloat16":
            tensor = tensor.float()  # numpy has no bfloat16
        return np.asarray(tensor.numpy())
    to_numpy_method = getattr(value, "to_numpy", None)
    if to_numpy_method is not None:  # pandas Series / DataFrame
        return np.asarray(to_numpy_method())
    if isinstance(value, list | tuple):
        try:
            return np.asarray(value)
        except ValueError:  # ragged
            return None
    return None


def is_sparse(value: object) -> bool:
    return hasattr(value, "tocsc") and hasattr(value, "nnz") and hasattr(value, "shape")


#: Per input type: whether it is a pandas-like DataFrame.
_FRAME_TYPES: dict[type, bool] = {}


def is_frame(value: object) -> bool:
    """A pandas-like DataFrame, told by its type (cached): ``hasattr(frame, "dtypes")``
    would build the dtypes Series, ~15 µs a call."""
    cls = type(value)
    found = _FRAME_TYPES.get(cls)
    if found is None:
        found = _FRAME_TYPES[cls] = all(
            hasattr(cls, name) for name in ("iloc", "columns", "dtypes")
        )
    return found


class Features:
    """The input of one model call, read a column at a time (a DataFrame: once, whole).

    Made on every call (its ``rows`` count even calls left out): everything
    else, the feature names and a frame's layout included, is worked out on
    first use, so a call left out costs ~0.5 µs here whatever its input.
    """

    def __init__(
        self,
        rows: int,
        width: int,
        names: Sequence[object] | None,
        *,
        dense: Array | None = None,
        frame: Any = None,
        sparse: Any = None,
        implicit: float = 0.0,
        columns: Sequence[Array] | None = None,
    ) -> None:
        self.rows = rows
        self.width = width
        #: As given (a model's ``feature_names_in_``, say); made strings on first use.
        self._names: Sequence[object] | tuple[str, ...] | None = names
        self._dense = dense
        self._frame = frame
        self._sparse = sparse
        self._implicit = implicit
        self._columns = columns
        self._csc: Any = None
        self._index: dict[str, int] | None = None
        #: A frame's layout, numeric block and other columns, worked out on first use.
        self._layout: FrameLayout | None = None
        self._block: Array | None = None
        self._converted = False
        self._others: dict[int, Array] = {}

    @property
    def names(self) -> tuple[str, ...] | None:
        """Feature names, one per column (None: known by index only)."""
        if self._frame is not None:
            return self._frame_layout().names
        names = self._names
        if names is None or isinstance(names, tuple):
            return names
        listed = tuple(str(n) for n in names)
        self._names = listed if len(listed) == self.width else None
        return self._names

    @property
    def is_sparse(self) -> bool:
        return self._sparse is not None

    @property
    def layout_key(self) -> object:
        """Equal for inputs whose columns are found at the same places."""
        if self._frame is not None:
            return self._frame_layout()  # the same object for every frame of these columns
        return (self.names, self.width)

    def position(self, feature: str | int) -> int | None:
        """Column index of a feature given by name or index (None: not in this input)."""
        if isinstance(feature, int):
            return feature if 0 <= feature < self.width else None
        index = self._index
        if index is None:
            if self._frame is not None:
                index = self._index = self._frame_layout().index
            else:
                index = self._index = {name: i for i, name in enumerate(self.names or ())}
        found = index.get(feature)
        if found is None and feature.isdigit() and not index:
            # "3" in a file written for an unnamed input: the index.
            found = int(feature) if int(feature) < self.width else None
        return found

    def numeric_matrix(self) -> Array | None:
        """The input's numbers as one dense matrix: the input itself when it is one
        (no copy), a DataFrame's numeric block (converted once); else None."""
        dense = self._dense
        if dense is not None and dense.dtype.kind in "fiub":
            return dense
        if self._frame is not None:
            return self._frame_block()
        return None

    def matrix_position(self, feature: str | int) -> int | None:
        """Column of ``numeric_matrix()`` holding a feature (None: not in it)."""
        position = self.position(feature)
        if position is None or self._frame is None:
            return position
        return self._frame_layout().block_index.get(position)

    def column(self, feature: str | int) -> Array | None:
        position = self.position(feature)
        if position is None:
            return None
        if self._dense is not None:
            return self._dense[:, position]
        if self._frame is not None:
            return self._frame_column(position)
        if self._columns is not None:
            return self._columns[position]
        if self._sparse is not None:
            if self._csc is None:
                self._csc = self._sparse.tocsc()
            csc = self._csc
            start, end = int(csc.indptr[position]), int(csc.indptr[position + 1])
            column = np.full(self.rows, self._implicit, dtype=np.float64)
            column[csc.indices[start:end]] = csc.data[start:end]
            return column
        return None

    def _frame_layout(self) -> FrameLayout:
        layout = self._layout
        if layout is None:
            layout = self._layout = FRAMES.layout(self._frame)
        return layout

    def _frame_block(self) -> Array | None:
        if not self._converted:
            self._converted = True
            self._layout, self._block = FRAMES.numeric_block(self._frame, self._frame_layout())
            self._index = self._layout.index
        return self._block

    def _frame_column(self, position: int) -> Array | None:
        block = self._frame_block()
        at = self._frame_layout().block_index.get(position)
        if at is not None and block is not None:
            return block[:, at]
        column = self._others.get(position)
        if column is None:
            column = self._others[position] = other_column(self._frame, position)
        return column


def named_columns(inputs: dict[str, object]) -> Features | None:
    """Several named inputs of one row each (an ONNX feed of 1-D or (n, 1) arrays)."""
    arrays = [to_numpy(value) for value in inputs.values()]
    if not arrays or any(a is None or a.ndim == 0 for a in arrays):
        return None
    columns = [a.reshape(a.shape[0], -1)[:, 0] for a in arrays if a is not None]
    rows = {c.shape[0] for c in columns}
    if len(rows) != 1:
        return None
    return Features(rows.pop(), len(columns), [str(k) for k in inputs], columns=columns)


def shape_of(value: object) -> tuple[int, int] | None:
    """(rows, width) of a numpy array or a DataFrame as ``features_of`` reads it,
    from its shape alone (~0.1 µs); None for any other input."""
    if type(value) is np.ndarray:
        shape: tuple[int, ...] = value.shape
        if len(shape) == 2:
            return shape[0], shape[1]
        if not shape:
            return None
        width = 1
        for size in shape[1:]:
            width *= size
        return shape[0], width
    if is_frame(value):
        rows, width = value.shape  # type: ignore[attr-defined]
        return int(rows), int(width)
    return None


def features_of(
    value: object, names: Sequence[object] | None = None, *, implicit: float = 0.0
) -> Features | None:
    """Wrap a model input; ``names`` are the model's own feature names, if it has them.

    ``implicit``: what a sparse matrix's unstored entries mean (0, or NaN: missing).
    """
    if isinstance(value, np.ndarray) and value.ndim == 2:  # the common case, first
        rows, width = value.shape
        return Features(rows, width, names, dense=value)
    if is_frame(value):
        rows, width = value.shape  # type: ignore[attr-defined]
        return Features(int(rows), int(width), None, frame=value)
    if is_sparse(value):
        rows, width = value.shape  # type: ignore[attr-defined]
        return Features(int(rows), int(width), names, sparse=value, implicit=implicit)
    array = to_numpy(value)
    if array is None or array.ndim == 0:
        return None
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    elif array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    rows, width = array.shape
    return Features(int(rows), int(width), names, dense=array)
