"""Reading and writing for batch scoring: input files in chunks, outputs under temporary names.

CSV goes through pyarrow's multi-threaded streaming reader, Parquet through its row batches, any URL
fsspec knows (s3://, gs://, az://, local paths) through fsspec.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from queue import Queue
from threading import Thread
from typing import IO

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .schema import Schema


class ScoringError(Exception):
    """Input, output or model that cannot be used; the message is one line naming the problem."""


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def is_parquet(url: str) -> bool:
    return url.lower().endswith((".parquet", ".pq"))


@contextlib.contextmanager
def opened(url: str) -> Iterator[tuple[IO[bytes], int]]:
    """The input as a binary file (decompressed by its suffix) and its size in bytes."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
        if not fs.isfile(path):
            raise ScoringError(f"{url}: no such file")
        size = fs.size(path)
        handle = fs.open(path, "rb", compression="infer")
    except ImportError as error:
        raise ScoringError(f"{url}: {first_line(error)} (install the fsspec backend it names)") from None
    except (OSError, ValueError) as error:
        raise ScoringError(f"{url}: {first_line(error)}") from None
    with handle:
        yield handle, size


def csv_header(handle: IO[bytes], url: str, size: int) -> tuple[list[str], int | None]:
    """The column names, and the number of rows estimated from the first MiB (for the time left)."""
    sample = handle.read(1 << 20)
    handle.seek(0)
    line = sample.split(b"\n", 1)[0]
    if not line.strip():
        raise ScoringError(f"{url} is empty: expected a header line with column names")
    try:
        names = next(csv.reader([line.decode("utf-8-sig")]))
    except UnicodeDecodeError:
        raise ScoringError(f"{url} is not UTF-8 text (save it as UTF-8 CSV)") from None
    lines = sample.count(b"\n")
    compressed = url.lower().endswith((".gz", ".bz2", ".xz", ".zst", ".zip"))
    estimate = round(size / len(sample) * lines) - 1 if lines > 1 and not compressed else None
    return names, estimate


def prefetched(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """`tables`, read one ahead in a thread: parsing the next chunk overlaps scoring this one (pyarrow and
    the estimators release the GIL). Memory: one chunk more."""
    queue: Queue = Queue(maxsize=1)
    done = object()

    def produce() -> None:
        try:
            for table in tables:
                queue.put(table)
            queue.put(done)
        except BaseException as error:  # handed to the consumer, raised there
            queue.put(error)

    Thread(target=produce, daemon=True).start()
    while (item := queue.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def columns_to_read(header: list[str], schema: Schema, id_column: str | None, url: str) -> list[str]:
    features = [column.name for column in schema.features]
    present = [name for name in features if name in header]
    if not present:
        raise ScoringError(f"{url} has none of the schema's columns ({', '.join(features[:5])}, ...)")
    absent = [name for name in features if name not in header]
    if absent:
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise ScoringError(f"{url} lacks columns the model needs: {', '.join(absent[:5])}{more}")
    if id_column and id_column not in header:
        raise ScoringError(f"{url} has no id column {id_column!r}")
    return ([id_column] if id_column else []) + features


def csv_tables(handle, url, schema, names, chunk) -> Iterator[pa.Table]:
    """Tables of `chunk` rows. Numbers are parsed as numbers; should a value not parse, the rest of the
    file is read again as text from the first row not yet returned, so the bad value becomes a reject."""
    done, as_text = 0, False
    while True:
        types = {name: pa.string() for name in names}
        if not as_text:
            types.update({column.name: pa.float64() for column in schema.features if column.numeric})
        try:
            reader = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(block_size=1 << 22, skip_rows_after_names=done),
                convert_options=pacsv.ConvertOptions(
                    include_columns=names, column_types=types, strings_can_be_null=True
                ),
            )
            for table in rechunk(reader, chunk):
                yield table
                done += table.num_rows
            return
        except pa.ArrowInvalid as error:
            message = first_line(error)
            if "UTF8" in message or "UTF-8" in message:
                raise ScoringError(f"{url} is not UTF-8 text (save it as UTF-8 CSV)") from None
            if as_text or "conversion error" not in message:
                raise ScoringError(f"{url}: {message}") from None
            as_text = True
            handle.seek(0)


def rechunk(batches, rows: int) -> Iterator[pa.Table]:
    """Record batches of any size as tables of exactly `rows` rows (the last one shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def parquet_tables(handle, url, schema, id_column, chunk) -> tuple[Iterator[pa.Table], int]:
    try:
        parquet = pq.ParquetFile(handle)
    except (pa.ArrowInvalid, OSError) as error:
        raise ScoringError(f"{url} is not a Parquet file: {first_line(error)}") from None
    names = columns_to_read(parquet.schema_arrow.names, schema, id_column, url)
    batches = parquet.iter_batches(batch_size=chunk, columns=names)
    return (pa.Table.from_batches([batch]) for batch in batches), parquet.metadata.num_rows


class Sink:
    """A local file under a temporary name, moved to `url` (local or object store) by `commit`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.path = fsspec.core.url_to_fs(url)
        local = isinstance(self.fs, fsspec.implementations.local.LocalFileSystem)
        folder = Path(self.path).parent if local else None
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=f".{Path(self.path).name}.", suffix=".part")
        os.close(descriptor)
        self.temporary, self.local = Path(name), local

    def commit(self) -> None:
        if self.local:
            os.replace(self.temporary, self.path)
        else:
            self.fs.put_file(str(self.temporary), self.path)
            self.temporary.unlink()

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)


class Writer:
    """Predictions as CSV or Parquet, one chunk at a time."""

    def __init__(self, path: Path, parquet: bool) -> None:
        self.path, self.parquet, self.writer = path, parquet, None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            kind = pq.ParquetWriter if self.parquet else pacsv.CSVWriter
            self.writer = kind(str(self.path), table.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
