"""Model inputs as columns: numpy arrays, pandas DataFrames, lists, torch tensors, sparse.

Only the columns an expectation watches are ever taken out, each as one numpy
array (a view where possible): no per-row Python. Feature names come from a
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

Array = np.ndarray[Any, Any]


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


class Features:
    """The input of one model call, read a column at a time."""

    def __init__(
        self,
        rows: int,
        width: int,
        names: Sequence[str] | None,
        *,
        dense: Array | None = None,
        frame: Any = None,
        sparse: Any = None,
        implicit: float = 0.0,
        columns: Sequence[Array] | None = None,
    ) -> None:
        self.rows = rows
        self.width = width
        self.names = tuple(names) if names is not None else None
        self._dense = dense
        self._frame = frame
        self._sparse = sparse
        self._implicit = implicit
        self._columns = columns
        self._csc: Any = None
        self._index = {name: i for i, name in enumerate(self.names or ())}

    @property
    def is_sparse(self) -> bool:
        return self._sparse is not None

    def position(self, feature: str | int) -> int | None:
        """Column index of a feature given by name or index (None: not in this input)."""
        if isinstance(feature, int):
            return feature if 0 <= feature < self.width else None
        found = self._index.get(feature)
        if found is None and feature.isdigit() and not self._index:
            # "3" in a file written for an unnamed input: the index.
            found = int(feature) if int(feature) < self.width else None
        return found

    def numeric_matrix(self) -> Array | None:
        """The input itself when it is one dense numeric matrix (no copy), else None."""
        dense = self._dense
        if dense is not None and dense.dtype.kind in "fiub":
            return dense
        return None

    def column(self, feature: str | int) -> Array | None:
        position = self.position(feature)
        if position is None:
            return None
        if self._dense is not None:
            return self._dense[:, position]
        if self._frame is not None:
            return _frame_column(self._frame, position)
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


def _frame_column(frame: Any, position: int) -> Array:
    series = frame.iloc[:, position]
    dtype = series.dtype
    if getattr(dtype, "kind", "O") in "fiub":
        return np.asarray(series.to_numpy())
    try:
        import pandas as pd  # noqa: PLC0415 - present whenever a DataFrame is

        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            # Nullable Int64/Float64: pd.NA becomes NaN, a missing number.
            return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
    except ImportError:  # pragma: no cover - a DataFrame without pandas
        pass
    # Categoricals and strings: an object array; NaN/None/NA are made None later.
    return np.asarray(series.to_numpy(dtype=object, na_value=None))


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


def features_of(
    value: object, names: Sequence[str] | None = None, *, implicit: float = 0.0
) -> Features | None:
    """Wrap a model input; ``names`` are the model's own feature names, if it has them.

    ``implicit``: what a sparse matrix's unstored entries mean (0, or NaN: missing).
    """
    if hasattr(value, "iloc") and hasattr(value, "columns") and hasattr(value, "dtypes"):
        shape = value.shape  # type: ignore[attr-defined]
        columns = [str(c) for c in value.columns]
        return Features(int(shape[0]), int(shape[1]), columns, frame=value)
    if is_sparse(value):
        rows, width = value.shape  # type: ignore[attr-defined]
        return Features(
            int(rows), int(width), _names(names, int(width)), sparse=value, implicit=implicit
        )
    array = to_numpy(value)
    if array is None or array.ndim == 0:
        return None
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    elif array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    rows, width = array.shape
    return Features(int(rows), int(width), _names(names, int(width)), dense=array)


def _names(names: Sequence[str] | None, width: int) -> list[str] | None:
    if names is None:
        return None
    listed = [str(n) for n in names]
    return listed if len(listed) == width else None
