"""Batch scoring: a CSV or Parquet file, local or in an object store, through the model in bounded chunks.

Each chunk is checked with the validate stage's own rules (schema.rejected_rows): rows that break one go
to a rejects file with their row number and the rule, the others are scored. The output and the rejects
are written under temporary names and renamed at the end, so a failed run leaves nothing under the names
asked for. Reading and writing are in batch_io.py.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .batch_io import (
    ScoringError,
    Sink,
    Writer,
    columns_to_read,
    csv_header,
    csv_tables,
    first_line,
    is_parquet,
    opened,
    parquet_tables,
    prefetched,
)
from .compiled import agreement, arrays, outputs
from .config import PARAMS_PATH, CompileConfig, load_params
from .metrics import predicted_labels
from .model import ServedFiles, files_at, files_from_mlflow
from .model_io import (
    MODEL_PATH,
    CompiledModelMismatchError,
    input_layout,
    load_model_bytes,
    load_onnx_bytes,
    sha256,
)
from .schema import Schema, conform, rejected_rows

DEFAULT_CHUNK = 100_000


class Progress:
    """Rows done, rows/s and time left: one line rewritten in place on a terminal, plain lines every
    `every` seconds otherwise (CI logs)."""

    def __init__(self, stream=None, every: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if every is not None else (0.25 if self.tty else 10.0)
        self.started = self.shown = time.monotonic()

    def line(self, rows: int, total: int | None) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = rows / elapsed
        text = f"predict: {rows:,} rows, {rate:,.0f} rows/s"
        if total and rows < total:  # total is an estimate for CSV: never a negative time left
            text += f", ~{(total - rows) / rate:.0f} s left"
        return text

    def update(self, rows: int, total: int | None = None) -> None:
        if time.monotonic() - self.shown < self.every:
            return
        self.shown = time.monotonic()
        if self.tty:
            self.stream.write("\r" + self.line(rows, total).ljust(70))
        else:
            self.stream.write(self.line(rows, total) + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()


@dataclass
class Summary:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    rejects_path: str = ""
    rules: dict[str, int] = field(default_factory=dict)
    model: str = ""  # which model scored the file, and why


def rejects_url(output: str) -> str:
    """Where the rows that fail validation go: next to the output, `<name>.rejects.csv`."""
    stem = output[: -len(Path(output).suffix)] if Path(output).suffix else output
    return stem + ".rejects.csv"


def resolve_model(model: str | None, schema: Schema) -> Scorer:
    """The local skops file by default; a path to another one; or an MLflow URI (models:/, runs:/). The
    ONNX twin beside it (models/compiled/model.onnx, or the one logged with the MLflow model) comes too."""
    if model and ":/" in model:
        try:
            files = files_from_mlflow(model)
        except Exception as error:  # MLflow raises many kinds; the user needs the URI and the first line
            raise ScoringError(f"model {model} cannot be loaded: {first_line(error)}") from None
    else:
        path = Path(model) if model else MODEL_PATH
        if not path.exists():
            raise ScoringError(f"{path} not found: run `make train`, or give MODEL=models:/<name>@champion")
        files = files_at(path)
    tolerance = load_params().compile.tolerance if PARAMS_PATH.exists() else CompileConfig().tolerance
    return Scorer(load_model_bytes(files.skops, files.skops_source), files, schema, tolerance)


class Scorer:
    """The pipeline, or its compiled twin where that is faster: the first chunk is scored both ways and
    timed, and the faster one scores the rest (on large chunks a forest's own vectorised predict is about
    as fast as ONNX Runtime; on small ones the compiled model is far faster). The answers must agree as
    the evaluate stage's parity check has them agree, else scikit-learn scores the file."""

    def __init__(self, model, files: ServedFiles, schema: Schema, tolerance: float) -> None:
        self.model = model
        self.session = None
        self.choice = "scikit-learn"
        self.timings: dict[str, float] = {}
        self.note = f"no {files.onnx_source}"
        self.classification = hasattr(model, "predict_proba")
        self.tolerance = tolerance
        if files.onnx is not None:
            try:
                self.layout = input_layout(schema)
                source = sha256(files.skops)
                self.session = load_onnx_bytes(files.onnx, files.onnx_source, source, self.layout, 0)
            except (CompiledModelMismatchError, ImportError, OSError) as error:
                self.note = f"refused: {error}"

    @property
    def classes_(self):
        return self.model.classes_

    def _compiled(self, features: pd.DataFrame) -> np.ndarray:
        return outputs(self.session, arrays(features, self.layout), self.classification)

    def _columns(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return _columns(self.model.classes_, values) if self.classification else {"prediction": values[:, 0]}

    def __call__(self, features: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.session is None or self.timings:
            if self.choice == "onnx":
                return self._columns(self._compiled(features))
            return predictions(self.model, features)
        began = time.perf_counter()
        expected = self.model.predict_proba(features) if self.classification else self.model.predict(features)
        middle = time.perf_counter()
        compiled = self._compiled(features)
        self.timings = {"scikit-learn": middle - began, "onnx": time.perf_counter() - middle}
        parity = agreement(expected, compiled, self.classification, self.tolerance)
        self.choice = min(self.timings, key=self.timings.get) if parity.compiled else "scikit-learn"
        self.note = (
            f"first chunk ({len(features):,} rows): scikit-learn {self.timings['scikit-learn']:.3f} s, "
            f"ONNX {self.timings['onnx']:.3f} s; "
            + (
                f"{self.choice} scores the file"
                if parity.compiled
                else f"the answers differ: {parity.reason}"
            )
        )
        if self.classification:
            return _columns(self.model.classes_, expected)
        return {"prediction": np.asarray(expected)}


def predictions(model, features: pd.DataFrame) -> dict[str, np.ndarray]:
    """The prediction, and for a classifier the probability of each class (one model call)."""
    if not hasattr(model, "predict_proba"):
        return {"prediction": model.predict(features)}
    return _columns(model.classes_, model.predict_proba(features))


def _columns(classes, proba: np.ndarray) -> dict[str, np.ndarray]:
    columns = {"prediction": predicted_labels(classes, proba)}
    columns.update({f"probability_{label}": proba[:, i] for i, label in enumerate(classes)})
    return columns


def score_table(table, start, model, schema, id_column, summary) -> tuple[pa.Table | None, pd.DataFrame]:
    """Score one chunk; returns the predictions of its valid rows and its rejected rows."""
    frame = table.to_pandas()
    frame.index = pd.RangeIndex(start + 1, start + 1 + len(frame), name="row")  # 1-based, as in a sheet
    rejected = rejected_rows(frame, schema)
    good = frame.drop(index=rejected.index) if len(rejected) else frame
    rejects = frame.loc[rejected.index]
    rejects.insert(0, "rule", rejected)
    for reasons in rejected:
        for reason in reasons.split("; "):
            summary.rules[reason] = summary.rules.get(reason, 0) + 1
    if good.empty:
        return None, rejects
    columns: dict[str, object] = {"row": good.index.to_numpy()}
    if id_column:
        columns[id_column] = pa.Array.from_pandas(good[id_column])
    columns.update(model(conform(good, schema)))
    return pa.table(columns), rejects


def score_file(
    url: str,
    output: str,
    schema: Schema,
    model: str | None = None,
    id_column: str | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> Summary:
    """Score every row of `url` into `output`; rows that break the schema go to `rejects_url(output)`."""
    if chunk < 1:
        raise ScoringError(f"chunk size must be a positive number of rows, not {chunk}")
    summary = Summary(rejects_path=rejects_url(output))
    with opened(url) as (handle, size):
        if is_parquet(url):
            tables, total = parquet_tables(handle, url, schema, id_column, chunk)
        else:
            header, total = csv_header(handle, url, size)
            names = columns_to_read(header, schema, id_column, url)
            tables = csv_tables(handle, url, schema, names, chunk)
        fitted = resolve_model(model, schema)
        out, rejects = Sink(output), Sink(summary.rejects_path)
        writer = Writer(out.temporary, is_parquet(output))
        try:
            for table in prefetched(tables):
                scored, bad = score_table(table, summary.rows, fitted, schema, id_column, summary)
                summary.rows += table.num_rows
                if scored is not None:
                    writer.write(scored)
                    summary.scored += scored.num_rows
                if len(bad):
                    bad.to_csv(rejects.temporary, mode="a", header=not summary.rejected)
                    summary.rejected += len(bad)
                if progress:
                    progress.update(summary.rows, total)
            summary.model = f"{fitted.choice} ({fitted.note})"
            if not summary.scored:  # nothing valid: the output still gets its header
                writer.write(pa.table({"row": pa.array([], pa.int64())}))
            writer.close()
            if not summary.rejected:
                rejects.temporary.write_text("row,rule\n", encoding="utf-8")
            out.commit()
            rejects.commit()
        finally:
            writer.close()
            out.discard()
            rejects.discard()
    return summary
