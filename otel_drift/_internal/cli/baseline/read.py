"""Reference data for ``otel-drift baseline``, read in chunks: CSV, Parquet, NumPy.

Every reader yields chunks of at most ``chunk_rows`` rows as ``{column: array}``
(numbers as float64 with NaN for missing, anything else as an object array
of the values as Python has them - str, bool, int - with None for missing),
so data larger than memory is never loaded whole. Values keep their type so
that one function (``values.labels_of``) labels them as the engine labels
live values: a bool is ``true``, not ``True``. Text without types (CSV
cells, a NumPy array of strings) is typed per column: numbers, booleans
(``true``/``false`` in any case), or text. Nothing here unpickles: ``.npy``
files are read with ``allow_pickle=False``; a structured array (``np.save``
of a record array) gives one column per field.
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
#: Cells of a boolean column (compared lowercased, stripped).
BOOLEAN_TOKENS = frozenset({"true", "false"})


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
    #: Text columns (CSV, a NumPy string array) whose cells are all true/false.
    booleans: frozenset[str] = frozenset()

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        suffix = self.path.suffix.lower()
        if suffix == ".npy":
            yield from _npy_chunks(self, chunk_rows)
        elif suffix in (".parquet", ".pq"):
            yield from _parquet_chunks(self.path, self.columns, self.numeric, chunk_rows)
        else:
            yield from _csv_chunks(self, chunk_rows)


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
    array = _npy_load(path)
    if array.dtype.names is not None:
        if array.ndim != 1:
            raise DataError(f"{path}: a {array.ndim}-D record array; a 1-D one (rows) is needed.")
        fields = tuple(array.dtype.names)
        names = _npy_names(path, feature_names, fields)
        numeric = frozenset(
            name
            for name, field in zip(names, fields, strict=True)
            if array.dtype[field].kind in "fiu"
        )
        return Source(path, names, numeric, int(array.shape[0]))
    if array.ndim != 2:
        raise DataError(f"{path}: a {array.ndim}-D array; a 2-D array (rows x features) is needed.")
    width = array.shape[1]
    names = _npy_names(path, feature_names, tuple(str(i) for i in range(width)))
    if array.dtype.kind in "US":
        # Text without types, as in a CSV file: each column typed by its cells.
        sample = np.asarray(array[:SNIFF_ROWS]).astype(str).astype(object)
        return _text_source(path, names, [sample[:, i] for i in range(width)], array.shape[0])
    numeric = frozenset(names) if array.dtype.kind in "fiu" else frozenset()
    return Source(path, names, numeric, int(array.shape[0]))


def _npy_load(path: Path) -> np.ndarray[Any, Any]:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)  # type: ignore[no-any-return]
    except ValueError as error:
        raise DataError(
            f"{path}: cannot read it without unpickling ({error}). Save plain arrays "
            "(np.save of a float, int, bool, string or record array), or use CSV/Parquet."
        ) from error


def _npy_names(
    path: Path, feature_names: Sequence[str] | None, default: tuple[str, ...]
) -> tuple[str, ...]:
    names = tuple(feature_names) if feature_names else default
    if len(names) != len(default):
        raise DataError(
            f"{path}: {len(default)} columns but {len(names)} feature names were given."
        )
    return names


def _npy_chunks(source: Source, chunk_rows: int) -> Iterator[Chunk]:
    array = _npy_load(source.path)
    for start in range(0, array.shape[0], chunk_rows):
        block = np.asarray(array[start : start + chunk_rows])
        if block.dtype.names is not None:
            fields = [block[field] for field in block.dtype.names]
        else:
            fields = [block[:, i] for i in range(block.shape[1])]
        chunk: Chunk = {}
        for name, values in zip(source.columns, fields, strict=True):
            if values.dtype.kind in "US":
                chunk[name] = _text_column(source, name, values.astype(str).astype(object))
            elif name in source.numeric:
                chunk[name] = values.astype(np.float64)
            else:
                chunk[name] = values.astype(object)  # bools stay bools
        yield chunk


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
        field.name for field in schema if pat.is_integer(field.type) or pat.is_floating(field.type)
    )
    return Source(path, tuple(schema.names), numeric, int(parquet.metadata.num_rows))


def _parquet_chunks(
    path: Path, names: tuple[str, ...], numeric: frozenset[str], chunk_rows: int
) -> Iterator[Chunk]:
    import pyarrow.types as pat  # noqa: PLC0415 - present once _parquet_file succeeded

    for batch in _parquet_file(path).iter_batches(batch_size=chunk_rows):
        chunk: Chunk = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name in numeric:
                chunk[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
                continue
            kind = column.type
            # Strings, bools and dictionary (category) values keep their Python
            # type; dates, decimals and the like are read as their text.
            keep = pat.is_string(kind) or pat.is_boolean(kind) or pat.is_dictionary(kind)
            values = column if keep else column.cast("string")
            chunk[name] = _object_array(values.to_pylist())
        yield {name: chunk[name] for name in names}


def _object_array(items: list[object]) -> Column:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


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
    return _text_source(path, names, _transpose(rows, len(names)), None)


def _text_source(
    path: Path, names: tuple[str, ...], samples: Sequence[Column], rows: int | None
) -> Source:
    """A source of text cells, each column typed by its first ``SNIFF_ROWS`` cells."""
    numeric: set[str] = set()
    booleans: set[str] = set()
    for name, cells in zip(names, samples, strict=True):
        if _numbers(cells) is not None:
            numeric.add(name)
        elif _all_booleans(cells):
            booleans.add(name)
    return Source(path, names, frozenset(numeric), rows, frozenset(booleans))


def _csv_chunks(source: Source, chunk_rows: int) -> Iterator[Chunk]:
    with source.path.open(newline="", encoding="utf-8-sig") as handle:
        reader = _csv_reader(handle)
        next(reader, None)
        while True:
            rows = [row for _, row in zip(range(chunk_rows), reader, strict=False)]
            if not rows:
                return
            columns = _transpose(rows, len(source.columns))
            yield {
                name: _text_column(source, name, cells)
                for name, cells in zip(source.columns, columns, strict=True)
            }


def _text_column(source: Source, name: str, cells: Column) -> Column:
    """One column of text cells as its type: numbers, booleans or text."""
    if name in source.numeric:
        parsed = _numbers(cells)
        # A later cell that is not a number counts as missing.
        return parsed if parsed is not None else _numbers_lenient(cells)
    lowered = _lowered(cells)
    missing = np.isin(lowered, list(MISSING_TOKENS))
    if name in source.booleans:
        true: Column = np.asarray(lowered == "true")
        false: Column = np.asarray(lowered == "false")
        if np.count_nonzero(true) + np.count_nonzero(false) == cells.size:
            return true  # a plain bool array: labelled in one column operation
        values = cells.astype(object)
        values[missing] = None
        # A later cell that is not true/false stays text (and is its own category).
        values[true] = True
        values[false] = False
        return values
    values = cells.astype(object)
    values[missing] = None
    return values


def _transpose(rows: list[list[str]], width: int) -> list[Column]:
    if all(len(row) == width for row in rows):
        table = np.empty((len(rows), width), dtype=object)
        table[:] = rows  # one C-level copy when every row is complete
    else:
        table = np.full((len(rows), width), "", dtype=object)
        for i, row in enumerate(rows):
            table[i, : min(len(row), width)] = row[:width]
    return [table[:, j] for j in range(width)]


def _lowered(cells: Column) -> Column:
    return np.char.lower(np.char.strip(cells.astype(str)))


def _missing(cells: Column) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.isin(_lowered(cells), list(MISSING_TOKENS))


def _numbers(cells: Column) -> Column | None:
    try:
        # Every cell a number ("nan" included): no need to look for missing tokens.
        return cells.astype(np.float64)
    except ValueError:
        pass
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


def _all_booleans(cells: Column) -> bool:
    """Every present cell is true or false (any case), and one is present."""
    lowered = _lowered(cells)
    missing = np.isin(lowered, list(MISSING_TOKENS))
    return bool(not missing.all() and np.isin(lowered[~missing], list(BOOLEAN_TOKENS)).all())
