"""Reading the raw data (bundled demo or the team's CSV) and the reproducible train/test split."""

from __future__ import annotations

import codecs
import contextlib
import csv
import ctypes
import hashlib
import io
import mmap
import re
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pandas.api.types import union_categoricals

from .config import DataConfig

RAW_PATH = Path("data/raw/data.csv")
TRAIN_PATH = Path("data/prepared/train.csv")
TEST_PATH = Path("data/prepared/test.csv")

# Bundled with scikit-learn, so nothing is downloaded.
DEMO_LOADERS = {"classification": "load_breast_cancer", "regression": "load_diabetes"}


def snake_case(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def load_demo(task: str, target: str) -> pd.DataFrame:
    """The demo dataset for `task`, with snake_case column names and the label in `target`."""
    from sklearn import datasets  # here, not at the top: the stages that only read data skip sklearn

    bunch = getattr(datasets, DEMO_LOADERS[task])(as_frame=True)
    frame = bunch.data.rename(columns=snake_case)
    frame[target] = bunch.target
    return frame


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def read_text_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    """The columns (all by default) of a CSV file as text, exactly as written: splitting rows never
    rewrites a value.

    Held as Arrow strings (about 1.5 times the file's size), with no type inference and no copies
    through pandas: reading a million rows this way takes a second or two.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: copy your data there (see README, 'Bring your own CSV')")
    try:
        header = _header(path)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text: save it as UTF-8 CSV") from None
    if not header:
        raise ValueError(f"{path} is empty: it needs a header line and rows")
    missing = [name for name in columns or [] if name not in header]
    if missing:
        raise KeyError(f"column {missing[0]!r} not found in {path}; its columns are {header}")
    options = pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), include_columns=columns)
    try:
        return pacsv.read_csv(path, convert_options=options)
    except pa.ArrowInvalid as error:
        raise ValueError(f"{path} cannot be read as a UTF-8 CSV file: {error}") from None


def split_indices(classes: np.ndarray | int, config: DataConfig, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the seeded train and test halves: stratified on `classes` (one code per row, in
    the labels' sorted order) for classification so both halves see every class; `classes` is the row
    count for regression. The same rows as train_test_split of the frame itself, with the same seed."""
    from sklearn.model_selection import train_test_split

    stratify = classes if task == "classification" else None
    rows = len(classes) if task == "classification" else classes
    train, test = train_test_split(
        np.arange(rows), test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    return train, test


def class_codes(text: pa.ChunkedArray) -> np.ndarray:
    """The label column as class codes in the order pandas would sort its values (as numbers when every
    value is one; a missing label is -1). Works on the few distinct values, never a million strings."""
    encoded = pc.dictionary_encode(text).combine_chunks()
    levels = pd.Series(encoded.dictionary.to_pylist(), dtype=object).replace("", np.nan)
    with contextlib.suppress(TypeError, ValueError):
        levels = pd.to_numeric(levels)
    rank = pd.Series(levels.rank(method="dense") - 1).fillna(-1).to_numpy(dtype=np.int64)
    return rank[encoded.indices.fill_null(0).to_numpy()] if len(rank) else np.zeros(0, dtype=np.int64)


def write_rows(table: pa.Table, rows: np.ndarray, path: Path, chunk: int = 100_000) -> None:
    """Write `rows` of `table` (in that order) to a CSV file, a chunk at a time (never a second table).

    Values go out unquoted, as they came in; only when some value holds a comma, a quote or a line break
    is the file written again with the quotes CSV needs.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)  # Arrow would quote every name
    for quoting in ("none", "needed"):
        options = pacsv.WriteOptions(include_header=False, quoting_style=quoting)
        try:
            with (
                path.open("wb") as handle,
                pacsv.CSVWriter(handle, table.schema, write_options=options) as out,
            ):
                handle.write(header.getvalue().encode("utf-8"))
                for start in range(0, len(rows), chunk):
                    out.write_table(table.take(rows[start : start + chunk]))
            return
        except pa.ArrowInvalid:
            continue


def _line_spans(data: mmap.mmap, block: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the non-empty lines of `data` (line breaks excluded), found by numpy a
    block at a time, so no array as large as the file is ever made."""
    view = np.frombuffer(data, dtype=np.uint8)
    breaks = np.concatenate(
        [np.flatnonzero(view[at : at + block] == ord("\n")) + at for at in range(0, len(view), block)]
    )
    carriage = (view[breaks - 1] == ord("\r")) if len(breaks) else np.zeros(0, dtype=bool)
    del view  # the map cannot close while numpy holds a view of it
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks - carriage, [len(data)]])
    keep = ends > starts
    return starts[keep], ends[keep]


def _copy_lines(source: Path, halves: dict[Path, np.ndarray], rows: int) -> bool:
    """Write each half's rows as the very lines of `source` (header first), when every row of the file
    is one line; False, writing nothing, when some quoted value spans lines (then Arrow writes them)."""
    with source.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        starts, ends = _line_spans(data)
        if len(starts) != rows + 1:
            return False
        header = data[starts[0] : ends[0]].removeprefix(codecs.BOM_UTF8)
        for path, order in halves.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                out.write(header + b"\n")
                for at in range(0, len(order), 100_000):
                    picked = order[at : at + 100_000] + 1
                    lines = [
                        data[start:end]
                        for start, end in zip(starts[picked].tolist(), ends[picked].tolist(), strict=True)
                    ]
                    out.write(b"\n".join(lines) + b"\n")
    return True


def split_csv(
    source: Path, train_path: Path, test_path: Path, config: DataConfig, task: str
) -> tuple[int, int, int]:
    """Split the rows of the CSV file `source` into the train and test files (see split_indices), each
    row written as it is in `source`. Returns the training rows, test rows and feature columns.

    Memory: the label column, then the file's lines mapped from disk (not copied) and their offsets;
    a million rows of 30 columns take a few seconds.
    """
    labels = read_text_table(source, [config.target])[config.target]
    rows = len(labels)
    train, test = split_indices(class_codes(labels) if task == "classification" else rows, config, task)
    del labels
    features = len(_header(source)) - 1
    if not _copy_lines(source, {train_path: train, test_path: test}, rows):
        table = read_text_table(source)
        write_rows(table, train, train_path)
        write_rows(table, test, test_path)
    return len(train), len(test), features


def read_frame(path: Path, chunk: int = 100_000, text: Collection[str] = ()) -> pd.DataFrame:
    """A prepared split as pandas reads it, with text columns held as categoricals.

    Read a chunk of rows at a time into columns made once at their full length: pandas' parser needs
    about three times the file's size when it reads a large file at once, pieces put together later
    hold the data twice, and a column of a few distinct strings takes a byte per row as a categorical
    instead of an object per row. The columns named in `text` (the schema's categorical ones, when
    there is a schema) are read as the strings written in every chunk: a chunk of only "01" and "02"
    would otherwise read as the numbers 1 and 2.
    """
    dtypes = dict.fromkeys(text, str)
    with path.open("rb") as handle:  # line breaks: at least the rows (more when quoted values span lines)
        rows = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b"")) + 1
    numbers: dict[str, np.ndarray] = {}
    pieces: dict[str, list[pd.Series]] = {}  # text columns (and any column with text in some chunk)
    done = 0
    for piece in pd.read_csv(path, chunksize=chunk, dtype=dtypes):
        end = done + len(piece)
        for name in piece.columns:
            values = piece[name]
            numeric = pd.api.types.is_numeric_dtype(values)
            if numeric and name not in pieces:
                if name not in numbers:
                    numbers[name] = np.empty(rows, dtype=values.dtype)
                elif numbers[name].dtype != values.dtype:  # e.g. whole numbers, then a gap: floats
                    numbers[name] = numbers[name].astype(np.result_type(numbers[name], values.dtype))
                numbers[name][done:end] = values.to_numpy()
                continue
            if name in numbers:  # numbers in the chunks before, text in this one
                pieces[name] = [pd.Series(numbers.pop(name)[:done])]
            pieces.setdefault(name, []).append(values if numeric else values.astype("category"))
        done = end
    if not done:
        return pd.read_csv(path, dtype=dtypes)
    columns = {}
    for name in piece.columns:
        if name in numbers:
            columns[name] = pd.Series(numbers.pop(name)[:done], name=name)
            continue
        parts = pieces.pop(name)
        if all(isinstance(part.dtype, pd.CategoricalDtype) for part in parts):
            columns[name] = pd.Series(union_categoricals(parts), name=name)
        else:  # numbers and text mixed, as one read of the whole file gives them: plain values
            columns[name] = pd.Series(
                np.concatenate([part.to_numpy(dtype=object) for part in parts]), name=name
            )
    return pd.DataFrame(columns, copy=False)  # the columns as made: a copy into one block held 2x


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:  # read in blocks: a data file is never held in memory for its hash
        return hashlib.file_digest(handle, "sha256").hexdigest()


def count_rows(path: Path) -> int:
    """The data rows of a CSV file (quoted line breaks counted right), holding one column, not the file."""
    rows = read_text_table(path, _header(path)[:1]).num_rows
    # Arrow's allocator keeps what parsing the file took: 80 MiB more in the evaluate stage, which counts
    # the rows of a 1,000,000-row CSV, until it is handed back.
    release_freed_memory()
    return rows


def features_and_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """The feature columns and the label column; labels read_frame held as a categorical come back as
    their plain values, as one read of the file by pandas gives them (the model's classes are those)."""
    labels = frame[target]
    if isinstance(labels.dtype, pd.CategoricalDtype):
        labels = labels.astype(labels.cat.categories.dtype)
    return frame.drop(columns=[target]), labels


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc; elsewhere nothing happens).

    Freed memory stays in the process until the allocator trims it, which it rarely does for the many
    small allocations of ONNX conversion and the arrays that tree fitting grows in its threads' own heaps.
    In the evaluate stage on 1,000,000 rows, 1.0 GiB of the 1.5 GiB the process held after the ONNX
    conversion was such memory, and each cross-validation fold left another 130 MiB; a trim gives it back.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    pa.default_memory_pool().release_unused()  # Arrow's allocator (pandas' text columns) keeps its own


M_ARENA_MAX = -8  # glibc's mallopt parameter


def one_heap() -> None:
    """Have every thread allocate from one heap (glibc; elsewhere nothing happens), before threads start.

    glibc gives threads heaps of their own, and what a forest's fitting threads free in theirs stays
    scattered there: in the evaluate stage on 1,000,000 rows each cross-validation fold left about 25 MiB
    that `release_freed_memory` could not hand back (150 MiB over five folds), and none with one heap,
    the folds taking as long. The pipeline stages call this; the service, whose threads answer requests
    at once, does not.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 1)
