"""The prediction record: what the model was asked and answered, as Parquet, written off the event loop.

One setting names the sink, PREDICTION_RECORD: a local folder (default `records/`), an fsspec URL
(`s3://bucket/prefix`, `gs://...`, `az://...`) or `off`. Files go to
`<sink>/date=YYYY-MM-DD/part-<uuid>.parquet`, one row per served record (or a sample of them,
`monitor.sample_rate` in params.yaml): its id, the request id, the time, the model version, the features
(minus `monitor.exclude`), the prediction and, for a classifier, one `probability_<class>` column per class.

A request only appends to a bounded in-memory buffer; one thread turns it into Arrow every CHUNK_ROWS
rows and writes a file every BATCH_ROWS rows or FLUSH_S seconds. When the sink is slower than the
traffic, or fails, records are dropped and counted (`prediction_record_dropped_total`), never the request
slowed or failed. close() writes what is left (BentoML's shutdown hook on SIGTERM, and atexit).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import io
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import bentoml
from bentoml.exceptions import InvalidArgument

from ..config import MonitorConfig, load_params
from ..limits import refuse
from ..schema import Schema, feature_values, numeric_matrix
from . import instruments
from .settings import ServingSettings

if TYPE_CHECKING:
    from ..predict import Row

log = logging.getLogger(__name__)

# The writer's knobs by default (PREDICTION_RECORD_BATCH_ROWS, _FLUSH_S, _MAX_QUEUED): rows per file at
# most (a busy service), seconds a row waits for its file at most (a quiet service), typed rows waiting
# for the writer at most (a few KiB each in memory).
_DEFAULTS = ServingSettings()
BATCH_ROWS = _DEFAULTS.prediction_record_batch_rows
FLUSH_S = _DEFAULTS.prediction_record_flush_s
MAX_QUEUED_ROWS = _DEFAULTS.prediction_record_max_queued
# Typed rows are turned into Arrow (about 300 bytes a row) every CHUNK_ROWS: holding a whole batch of
# typed records grew a worker by about 50 MiB under `make load`.
CHUNK_ROWS = 1000
CLOSE_WAIT_S = 10.0  # inside the pod's 30 s grace period, after the requests in flight

EPOCH, MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)

REQUEST_ID_HEADER = "X-Request-Id"
# A client's own id is used as it is when it is this safe to log, store and echo: no spaces, quotes or
# separators a log or a CSV could misread; the length bounds what a client can make the service store.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
REQUEST_ID_PATTERN = "^" + REQUEST_ID.pattern + "$"

# (request id, time, records, answers, indices of the sampled records)
Entry = tuple[str, datetime, Sequence[Any], Sequence["Row"], Sequence[int]]


BAD_REQUEST_ID = (
    f"{REQUEST_ID_HEADER} must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter "
    "or digit"
)


class RequestIdCheck:
    """Refuses a request whose X-Request-Id is malformed with a 400 `{"error": ...}`, before its body is read.

    (Raised inside the API, BentoML would answer a list instead of the object the OpenAPI document gives.)
    """

    def __init__(self, app, paths: tuple[str, ...]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            for name, value in scope["headers"]:
                if name == b"x-request-id" and not REQUEST_ID.fullmatch(value.decode("latin-1")):
                    await refuse(send, 400, BAD_REQUEST_ID)
                    return
        await self.app(scope, receive, send)


def request_id(context: bentoml.Context) -> str:
    """The client's X-Request-Id (checked by RequestIdCheck), else a new one; echoed on the response."""
    given = context.request.headers.get(REQUEST_ID_HEADER)
    if given is not None and not REQUEST_ID.fullmatch(given):  # only when served without the middleware
        raise InvalidArgument(BAD_REQUEST_ID)
    chosen = given or uuid.uuid4().hex
    context.response.headers[REQUEST_ID_HEADER] = chosen
    return chosen


def model_version(settings: ServingSettings) -> str:
    """MODEL_VERSION when the deployment names it, else MODEL_URI, else the model file's content hash."""
    if version := settings.model_version or settings.model_uri:
        return version
    path = settings.model_path
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "unknown"
    return f"sha256:{digest[:12]}"


class Recorder:
    """Buffers served records and writes them as Parquet from one thread; see the module's docstring."""

    def __init__(
        self,
        sink: str,
        monitor: MonitorConfig,
        schema: Schema | None = None,
        version: str = "unknown",
        batch_rows: int = BATCH_ROWS,
        flush_s: float = FLUSH_S,
        max_queued_rows: int = MAX_QUEUED_ROWS,
    ) -> None:
        import fsspec  # the filesystem of an object-store sink loads only when one is configured
        import pyarrow as pa
        import pyarrow.parquet as pq

        # The model call's arrays (predict.Answers) are in the service's schema's order: they are taken
        # as they are only by a recorder of that schema.
        self.matrices = schema is None
        if schema is None:  # the service's own (data/schema.json), read here: importing this module
            from .. import predict  # must not need a trained project (the tests collect before training)

            schema = predict.SCHEMA

        names = [column.name for column in schema.features]
        unknown = sorted(set(monitor.exclude) - set(names))
        if unknown:  # a typo here would write the column it meant to keep out
            raise ValueError(f"monitor.exclude names columns the schema does not have: {unknown}")
        self.sink = sink.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.sink)
        self.local = "file" in self.fs.protocol or "local" in self.fs.protocol
        self.sample_rate = monitor.sample_rate
        self.kept = [(index, column) for index, column in enumerate(schema.features) if column.name not in
                     set(monitor.exclude)]  # fmt: skip
        self.types = {column.name: pa.float64() if column.numeric else pa.string() for _, column in self.kept}
        self.numeric = [index for index, column in enumerate(schema.features) if column.numeric]
        self.text = any(not column.numeric for _, column in self.kept)
        self.version = version
        self.batch_rows, self.flush_s, self.max_queued_rows = batch_rows, flush_s, max_queued_rows
        self.chunk_rows = min(CHUNK_ROWS, batch_rows)
        self.pending: list[Entry] = []
        self.queued_rows = 0
        self.condition = threading.Condition()
        self.closing = False
        self.written = 0  # rows written since start
        self.dropped = 0  # rows dropped since start, any reason
        self.failing: str | None = None  # the reason drops are being counted for, logged once
        self.dropped_mark = 0  # `dropped` when the writer last took the buffer
        self.clock = lambda: datetime.now(UTC)
        # Parquet's code and buffers load now, beside the model, not at the first batch under load.
        warm_up = pa.table({name: pa.nulls(1000, kind) for name, kind in self.types.items()} or {"_": [0]})
        pq.write_table(warm_up, io.BytesIO())
        self.thread = threading.Thread(target=self._run, name="prediction-record", daemon=True)
        self.thread.start()
        atexit.register(self.close)

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> Recorder | None:
        """The recorder PREDICTION_RECORD and params.yaml's `monitor` section ask for; None when off."""
        if settings.record_sink is None:
            return None
        return cls(
            settings.record_sink,
            load_params(settings.params_path).monitor,
            version=model_version(settings),
            batch_rows=settings.prediction_record_batch_rows,
            flush_s=settings.prediction_record_flush_s,
            max_queued_rows=settings.prediction_record_max_queued,
        )

    def submit(self, request: str, records: Sequence[Any], rows: Sequence[Row]) -> None:
        """Queue one request's records and answers; never blocks, drops and counts when the buffer is full."""
        if self.sample_rate >= 1.0:
            indices: Sequence[int] = range(len(records))
        else:
            indices = [i for i in range(len(records)) if random.random() < self.sample_rate]  # noqa: S311
            if not indices:
                return
        with self.condition:
            if self.closing or self.queued_rows + len(indices) > self.max_queued_rows:
                self._drop(len(indices), "closed" if self.closing else "queue_full")
                return
            self.pending.append((request, self.clock(), records, rows, indices))
            self.queued_rows += len(indices)
            if self.queued_rows >= self.chunk_rows:
                self.condition.notify()

    def close(self) -> None:
        """Write what is queued and stop the writer (waits at most CLOSE_WAIT_S)."""
        with self.condition:
            self.closing = True
            self.condition.notify()
        self.thread.join(CLOSE_WAIT_S)

    def _drop(self, rows: int, reason: str) -> None:
        self.dropped += rows
        instruments.record_dropped(rows, reason)
        if self.failing is None:
            log.warning("prediction record: dropping records (%s) until %s keeps up", reason, self.sink)
            self.failing = reason

    def _run(self) -> None:
        """Turn the buffer into Arrow every CHUNK_ROWS rows (compact, and the typed records can go), and
        write a file every batch_rows rows, every flush_s seconds, and at close."""
        chunks: dict[str, list[Any]] = {}  # date -> Arrow tables not yet written
        held, deadline = 0, time.monotonic() + self.flush_s
        while True:
            with self.condition:
                while not self.closing and self.queued_rows < self.chunk_rows:
                    if not self.condition.wait(max(0.0, deadline - time.monotonic())):
                        break
                entries, self.pending, rows, self.queued_rows = self.pending, [], self.queued_rows, 0
                closing = self.closing
            try:
                for day, table in self._tables(entries).items():
                    chunks.setdefault(day, []).append(table)
                held += rows
            except Exception as error:  # a value Arrow cannot take: lose this chunk, not the writer
                self._failed(rows, error)
            if chunks and (closing or held >= self.batch_rows or time.monotonic() >= deadline):
                with self.condition:
                    quiet, self.dropped_mark = self.dropped == self.dropped_mark, self.dropped
                self._write(chunks, held, quiet)
                chunks, held = {}, 0
            if time.monotonic() >= deadline:
                deadline = time.monotonic() + self.flush_s
            if closing:
                return

    def _write(self, chunks: dict[str, list[Any]], rows: int, quiet: bool) -> None:
        """Write a file per date; `quiet`: nothing was dropped since the last file (a failure window ends)."""
        import pyarrow as pa

        try:
            for day, tables in chunks.items():
                table = pa.concat_tables(tables)
                self._put(day, table)
                self.written += table.num_rows
                rows -= table.num_rows
        except Exception as error:
            self._failed(rows, error)
            return
        if self.failing is not None and quiet:
            log.warning("prediction record: writing to %s again (%d rows dropped so far)", self.sink,
                        self.dropped)  # fmt: skip
            self.failing = None

    def _failed(self, rows: int, error: Exception) -> None:
        self.dropped += rows
        instruments.record_dropped(rows, "sink_error")
        if self.failing != "sink_error":  # one line per failure window, not one per batch
            log.warning("prediction record: cannot write to %s, dropping records: %r", self.sink, error)
            self.failing = "sink_error"

    def _tables(self, entries: list[Entry]) -> dict[str, Any]:
        """One Arrow table per UTC date of the entries (a batch across midnight makes two files).

        Column by column, in bulk: the numbers and probabilities come from the model call's own arrays
        (predict.Answers) when the service hands them over, and the ids and times are repeated per
        entry by numpy and Arrow. Per value in Python, a 100-record request cost the writer more than a
        millisecond, taken from the event loop's thread through the GIL (docs/decisions.md).
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        by_day: dict[str, list[Entry]] = {}
        for entry in entries:
            by_day.setdefault(entry[1].strftime("%Y-%m-%d"), []).append(entry)
        tables = {}
        for day, group in by_day.items():
            requests, micros, positions, numbers, text_rows = [], [], [], [], []
            predictions, probabilities, labels = [], [], []
            for request, at, records, answers, indices in group:
                sampled = len(indices) < len(records)
                if sampled:
                    records = [records[i] for i in indices]
                requests.append(request)
                micros.append((at - EPOCH) // MICROSECOND)
                positions.append(np.asarray(indices, dtype=np.int64))
                block = getattr(answers, "numeric", None) if self.matrices else None
                rows = feature_values(records) if block is None or self.text else []
                if block is None:
                    block = numeric_matrix(rows, self.numeric)
                elif sampled:
                    block = block[positions[-1]]
                numbers.append(block.reshape(len(records), len(self.numeric)))
                text_rows.extend(rows if self.text else ())
                served = [answers[i] for i in indices] if sampled else answers
                proba = getattr(served, "proba", None)  # predict.Answers: the call's labels and arrays
                if proba is not None:
                    predictions.extend(served.labels)
                    labels = labels or list(served.classes)
                else:
                    predictions.extend(getattr(served, "labels", None) or [p for p, _ in served])
                    if not labels and len(served) and served[0][1] is not None:
                        labels = list(served[0][1])
                if labels:
                    if proba is None:
                        proba = np.array([[row[1][label] for label in labels] for row in served], np.float64)
                    probabilities.append(proba.reshape(len(served), len(labels)))
            counts = [len(block) for block in numbers]
            entry_of_row = np.repeat(np.arange(len(requests)), counts)
            request_ids = pa.array(requests, pa.string()).take(entry_of_row)
            index = pa.array(np.concatenate(positions)).cast(pa.string())
            stamps = np.repeat(np.array(micros, dtype="datetime64[us]"), counts)
            arrays = {
                "prediction_id": pc.binary_join_element_wise(request_ids, index, "-"),
                "request_id": request_ids,
                "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
                "model_version": pa.repeat(pa.scalar(self.version, pa.string()), len(request_ids)),
            }
            matrix = np.concatenate(numbers) if numbers else np.empty((0, len(self.numeric)))
            by_feature = list(zip(*text_rows, strict=True)) if text_rows else []
            for position, column in self.kept:
                if column.numeric:  # NaN is a missing value: the request's schema refuses NaN itself
                    values = matrix[:, self.numeric.index(position)]
                    arrays[column.name] = pa.array(values, self.types[column.name], from_pandas=True)
                else:
                    arrays[column.name] = pa.array(by_feature[position], self.types[column.name])
            arrays["prediction"] = pa.array(predictions)
            if probabilities:
                table = np.concatenate(probabilities)
                for place, label in enumerate(labels):
                    arrays[f"probability_{label}"] = pa.array(table[:, place], pa.float64())
            tables[day] = pa.table(arrays)
        return tables

    def _put(self, day: str, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Dictionary pages only where values repeat (a request's id, the version, categories, classes). On
        # every column they made a bench's record cost 0.67 µs a row to write instead of 0.45; measured
        # numbers and probabilities rarely repeat (docs/decisions.md).
        text = {field.name for field in table.schema if pa.types.is_string(field.type)}
        repeated = sorted(text - {"prediction_id"} | {"prediction"})
        write = functools.partial(pq.write_table, use_dictionary=repeated)
        folder = f"{self.root}/date={day}"
        name = f"{folder}/part-{uuid.uuid4().hex}.parquet"
        if not self.local:  # an object store's PUT is atomic: a reader sees the whole file or none
            with self.fs.open(name, "wb") as file:
                write(table, file)
            return
        # On a disk, write beside and rename, so a reader listing the folder never opens half a file.
        self.fs.makedirs(folder, exist_ok=True)
        partial = f"{folder}/.part-{uuid.uuid4().hex}.tmp"
        with self.fs.open(partial, "wb") as file:
            write(table, file)
        self.fs.mv(partial, name)
