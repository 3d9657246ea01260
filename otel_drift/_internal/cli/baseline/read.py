"""Reference data for ``otel-drift baseline``, read in chunks: CSV, Parquet, NumPy.

Every reader yields chunks of at most ``chunk_rows`` rows as ``{column: array}``
(numbers as float64 with NaN for missing, anything else as an object array
with None for missing), so data larger than memory is never loaded whole.
Nothing here unpickles: ``.npy`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Column = np.ndarray[Any, Any]
Chunk = dict[str, Column]

#: CSV cells read as a missing value.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})


class DataError(Exception):
    """The reference data cannot be read; the message says why and what to do."""


@dataclass(frozen=True)
class Source:
    path: Path
    #: Column names, in file order.
    columns: tuple[str, ...]
    #: Names of the columns holding numbers (the rest are categorical).
    numeric: frozenset[str]
    #: Total rows when the format knows it up front (for the progress bar).
    rows: int | None

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        suffix = self.path.suffix.lower()
        if suffix == ".npy":
            yield from _npy_chunks(self.path, self.columns, chunk_rows)
        elif suffix in (".parquet", ".pq"):
            yield from _parquet_chunks(self.path, self.columns, self.numeric, chunk_rows)
        else:
            yield from _csv_chunks(self.path, self.columns, self.numeric, chunk_rows)


def open_source(path: Path, feature_names: Sequence[str] | None = None) -> Source:
    if not path.is_file():
        raise DataError(f"{path}: no such file. Give a CSV, Parquet or .npy file.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy_source(path, feature_names)
    if suffix in (".parquet", ".pq"):
        return _parquet_source(path)
    return _csv_source(path)


# -- NumPy ---------------------------------------------------------------------


def _npy_source(path: Path, feature_names: Sequence[str] | None) -> Source:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DataError(
            f"{path}: cannot read it without unpickling ({error}). Save plain numeric arrays "
            "(np.save of a float or int array), or use CSV/Parquet."
        ) from error
    if array.ndim != 2:
        raise DataError(f"{path}: a {array.ndim}-D array; a 2-D array (rows x features) is needed.")
    width = array.shape[1]
    names = tuple(feature_names) if feature_names else tuple(str(i) for i in range(width))
    if len(names) != width:
        raise DataError(f"{path}: {width} columns but {len(names)} feature names were given.")
    numeric = frozenset(names) if array.dtype.kind in "fiub" else frozenset()
    return Source(path, names, numeric, int(array.shape[0]))


def _npy_chunks(path: Path, names: tuple[str, ...], chunk_rows: int) -> Iterator[Chunk]:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    for start in range(0, array.shape[0], chunk_rows):
        block = np.asarray(array[start : start + chunk_rows])
        if block.dtype.kind in "fiub":
            block = block.astype(np.float64)
        yield {name: block[:, i] for i, name in enumerate(names)}


# -- Parquet ---------------------------------------------------------------------


def _parquet_file(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional: the parquet extra
    except ImportError as error:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow: pip install 'otel-drift[parquet]'."
        ) from error
    return pq.ParquetFile(path)


def _parquet_source(path: Path) -> Source:
    import pyarrow.types as pat  # noqa: PLC0415 - present once _parquet_file succeeded

    parquet = _parquet_file(path)
    schema = parquet.schema_arrow
    numeric = frozenset(
        field.name
        for field in schema
        if pat.is_integer(field.type) or pat.is_floating(field.type) or pat.is_boolean(field.type)
    )
    return Source(path, tuple(schema.names), numeric, int(parquet.metadata.num_rows))


def _parquet_chunks(
    path: Path, names: tuple[str, ...], numeric: frozenset[str], chunk_rows: int
) -> Iterator[Chunk]:
    for batch in _parquet_file(path).iter_batches(batch_size=chunk_rows):
        chunk: Chunk = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name in numeric:
                chunk[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
            else:
                values = (
                    column.cast("string") if not str(column.type).startswith("dict") else column
                )
                chunk[name] = np.asarray(values.to_pylist(), dtype=object)
        yield {name: chunk[name] for name in names}


# -- CSV ---------------------------------------------------------------------------

#: Rows read to decide which CSV columns hold numbers.
SNIFF_ROWS = 10_000


def _csv_reader(handle: io.TextIOBase) -> Iterator[list[str]]:
    return csv.reader(handle)


def _csv_source(path: Path) -> Source:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = _csv_reader(handle)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}: empty file; a CSV file with a header row is needed.")
        rows = [row for _, row in zip(range(SNIFF_ROWS), reader, strict=False)]
    names = tuple(header)
    if len(set(names)) != len(names):
        raise DataError(f"{path}: the header names a column twice; give each column once.")
    columns = _transpose(rows, len(names))
    numeric = frozenset(
        name for name, cells in zip(names, columns, strict=True) if _numbers(cells) is not None
    )
    return Source(path, names, numeric, None)


def _csv_chunks(
    path: Path, names: tuple[str, ...], numeric: frozenset[str], chunk_rows: int
) -> Iterator[Chunk]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = _csv_reader(handle)
        next(reader, None)
        while True:
            rows = [row for _, row in zip(range(chunk_rows), reader, strict=False)]
            if not rows:
                return
            columns = _transpose(rows, len(names))
            chunk: Chunk = {}
            for name, cells in zip(names, columns, strict=True):
                if name in numeric:
                    parsed = _numbers(cells)
                    # A later cell that is not a number counts as missing.
                    chunk[name] = parsed if parsed is not None else _numbers_lenient(cells)
                else:
                    chunk[name] = _labels(cells)
            yield chunk


def _transpose(rows: list[list[str]], width: int) -> list[Column]:
    table = np.full((len(rows), width), "", dtype=object)
    for i, row in enumerate(rows):
        table[i, : min(len(row), width)] = row[:width]
    return [table[:, j] for j in range(width)]


def _missing(cells: Column) -> np.ndarray[Any, np.dtype[np.bool_]]:
    lowered = np.char.lower(np.char.strip(cells.astype(str)))
    return np.isin(lowered, list(MISSING_TOKENS))


def _numbers(cells: Column) -> Column | None:
    missing = _missing(cells)
    try:
        return np.where(missing, "nan", cells).astype(np.float64)
    except ValueError:
        return None


def _numbers_lenient(cells: Column) -> Column:
    out = np.full(cells.shape[0], np.nan)
    for i, cell in enumerate(cells):
        try:
            out[i] = float(cell)
        except ValueError:
            continue
    return out


def _labels(cells: Column) -> Column:
    labels = cells.astype(object)
    labels[_missing(cells)] = None
    return labels
