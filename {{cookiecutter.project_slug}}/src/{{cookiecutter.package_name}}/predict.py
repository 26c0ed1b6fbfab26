"""What every way of serving the model shares: the typed request and response, the frame, one model call.

The BentoML service (service.py) batches calls to `Predictor.infer`; the benchmark's plain FastAPI app
(bench/fastapi_app.py) calls it once per request, so the two differ only in how requests reach the model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .compiled import MISSING_TEXT, compare, probe_frame, read_parity
from .config import PARAMS_PATH, load_params
from .metrics import predicted_labels
from .model import ServedFiles, files_at, serving_files
from .model_io import (
    ONNX_PATH,
    CompiledModelMismatchError,
    input_layout,
    load_model_bytes,
    load_onnx_bytes,
    sha256,
)
from .schema import Schema, as_text, feature_values, numeric_matrix, picker, record_model
from .serving.settings import ServingSettings, current

log = logging.getLogger(__name__)

# The request type is built when the module is imported: the settings are read then (the service's
# start-up), and a bad value stops it there.
MAX_RECORDS = current().max_records
SCHEMA = Schema.load(current().schema_path)
Record = record_model(SCHEMA)
Records = Annotated[list[Record], Field(min_length=1, max_length=MAX_RECORDS)]
COLUMNS = [column.name for column in SCHEMA.features]
NUMERIC = [index for index, column in enumerate(SCHEMA.features) if column.numeric]
TEXT = [index for index, column in enumerate(SCHEMA.features) if not column.numeric]


PICK_TEXT = picker(TEXT)

Row = tuple[int | float | str, dict[str, float] | None]


class Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(
        description="one id per record, in order: `<request id>-<index>` (the request id is the X-Request-Id "
        "header), the key to join a label that arrives later to the prediction record"
    )
    predictions: list[int | float | str] = Field(description="one prediction per record, in order")
    probabilities: list[dict[str, float]] | None = Field(
        None, description="classification only: the probability of each class, per record"
    )

    @classmethod
    def of(cls, rows: Sequence[Row], request_id: str) -> Prediction:
        """The response to a request whose records got these answers (predict.Answers, or pairs).

        Built without validation: every value comes from the model call, typed as the fields say, and
        validating 100 records' answers again cost the event loop about as much as building them.
        """
        ids = [f"{request_id}-{index}" for index in range(len(rows))]
        if isinstance(rows, Answers):
            return cls.model_construct(ids=ids, predictions=rows.labels, probabilities=rows.probabilities())
        predictions = [prediction for prediction, _ in rows]
        if rows and rows[0][1] is None:
            return cls.model_construct(ids=ids, predictions=predictions, probabilities=None)
        probabilities = [probabilities for _, probabilities in rows]
        return cls.model_construct(ids=ids, predictions=predictions, probabilities=probabilities)


class Answers(Sequence[Row]):
    """One model call's answers, a (prediction, probabilities) pair per record, kept as the arrays they
    came from: the predicted labels (or values), the numeric features in NUMERIC order (NaN where missing)
    and, for a classifier, the class probabilities (a column per class, in `classes` order). A slice is a
    view of the same arrays (the batcher hands each request its own), so the metrics and the prediction
    record take them as they are instead of reading every record again, and the pairs are only built when
    somebody reads them as pairs."""

    __slots__ = ("_rows", "classes", "labels", "numeric", "proba")

    def __init__(
        self,
        labels: list,
        numeric: np.ndarray,
        proba: np.ndarray | None = None,
        classes: Sequence[str] = (),
    ) -> None:
        self.labels, self.numeric, self.proba, self.classes = labels, numeric, proba, classes
        self._rows: list[Row] | None = None

    def probabilities(self) -> list[dict[str, float]] | None:
        """Each record's probability per class (None for a regressor)."""
        if self.proba is None:
            return None
        return [dict(zip(self.classes, row, strict=True)) for row in self.proba.tolist()]

    @property
    def rows(self) -> list[Row]:
        if self._rows is None:
            probabilities = self.probabilities() or [None] * len(self.labels)
            self._rows = list(zip(self.labels, probabilities, strict=True))
        return self._rows

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            proba = None if self.proba is None else self.proba[index]
            return Answers(self.labels[index], self.numeric[index], proba, self.classes)
        return self.rows[index]


def frame(
    records: list[BaseModel], numbers: np.ndarray | None = None, rows: list[list] | None = None
) -> pd.DataFrame:
    """The records as the frame training saw: the columns, order and dtypes of `schema.conform`, in bulk.

    The numbers go into one float array and text stays text; test_service checks it equals `conform`'s
    frame. `rows` (the records' feature_values) and `numbers` (their numeric_matrix): when already built.
    """
    rows = feature_values(records) if rows is None else rows
    numbers = numeric_matrix(rows, NUMERIC) if numbers is None else numbers
    features = pd.DataFrame(numbers, columns=[COLUMNS[i] for i in NUMERIC])
    if not TEXT:
        return features
    for index in TEXT:
        features[COLUMNS[index]] = as_text(pd.Series([row[index] for row in rows], dtype=object))
    return features[COLUMNS]


class CompiledModel:
    """The ONNX twin of the served pipeline: its inputs are built straight from the typed records.

    Refused (CompiledModelMismatchError, one line naming the mismatch) when the file was converted from
    another skops file, takes other inputs than the schema's features, or answers rows at the schema's
    edges differently from the pipeline.
    """

    def __init__(self, model, files: ServedFiles, tolerance: float) -> None:
        self.layout = input_layout(SCHEMA)
        self.session = load_onnx_bytes(files.onnx, files.onnx_source, sha256(files.skops), self.layout)
        self.classification = hasattr(model, "predict_proba")
        self.output = self.session.get_outputs()[1 if self.classification else 0].name
        parity = compare(model, self.session, probe_frame(SCHEMA), self.layout, tolerance)
        if not parity.compiled:
            raise CompiledModelMismatchError(
                f"{files.onnx_source} does not answer like the model: {parity.reason}"
            )

    def feeds(
        self, records: list[BaseModel], numbers: np.ndarray | None = None, rows: list[list] | None = None
    ) -> dict[str, np.ndarray]:
        """The model's inputs; `rows` and `numbers` as for `frame`, when already built."""
        rows = feature_values(records) if rows is None else rows
        feeds = {}
        if NUMERIC:
            feeds["numeric"] = numeric_matrix(rows, NUMERIC) if numbers is None else numbers
        if TEXT:
            text = [[MISSING_TEXT if v is None else str(v) for v in PICK_TEXT(row)] for row in rows]
            feeds["text"] = np.array(text, dtype=object)
        return feeds

    def __call__(
        self, records: list[BaseModel], numbers: np.ndarray | None = None, rows: list[list] | None = None
    ) -> np.ndarray:
        """Probabilities (classification) or predictions, one row per record."""
        (result,) = self.session.run([self.output], self.feeds(records, numbers, rows))
        return result.reshape(len(records), -1)


class Predictor:
    """The trained pipeline, its compiled twin when there is one that holds, and its classes as text."""

    def __init__(
        self, path: Path | None = None, runtime: str | None = None, settings: ServingSettings | None = None
    ) -> None:
        # Without a path: MODEL_URI (a model in MLflow, e.g. `models:/<name>@champion`) or MODEL_PATH.
        settings = settings or current()
        if path is not None:
            files = files_at(path)
        else:
            files = serving_files(settings.model_uri, settings.model_path, settings.onnx_model_path)
        self.model = load_model_bytes(files.skops, files.skops_source)
        self.classes = [str(label) for label in getattr(self.model, "classes_", [])]
        self.compiled: CompiledModel | None = None
        self.runtime = "scikit-learn"
        runtime = runtime or settings.model_runtime
        if runtime == "sklearn":
            self.reason = "MODEL_RUNTIME=sklearn"
        elif files.onnx is None:
            self.reason = f"no {files.onnx_source or ONNX_PATH}" + _why_not_compiled()
        else:
            try:
                self.compiled = CompiledModel(self.model, files, _tolerance())
                self.runtime, self.reason = (
                    "onnx",
                    f"{files.onnx_source} (parity checked against the pipeline)",
                )
            except (CompiledModelMismatchError, ImportError) as error:
                self.reason = f"refused: {error}"
        log.warning("model: %s; %s", self.runtime, self.reason)  # one line per worker, at start-up

    def infer(self, records: list[BaseModel]) -> Answers:
        """One model call for any number of records; a (prediction, probabilities) pair per record."""
        rows = feature_values(records)  # read once: the matrix, the text and the frame come from them
        numbers = numeric_matrix(rows, NUMERIC)
        if self.compiled is not None:
            outputs = self.compiled(records, numbers, rows)
            if not self.classes:
                return Answers(outputs[:, 0].tolist(), numbers)
            proba = outputs.astype(np.float64)
        else:
            features = frame(records, numbers, rows)
            if not self.classes:
                return Answers(self.model.predict(features).tolist(), numbers)
            # A scikit-learn classifier's predict is the class of highest probability: one call gives both.
            proba = self.model.predict_proba(features)
        return Answers(predicted_labels(self.model.classes_, proba).tolist(), numbers, proba, self.classes)


def _tolerance() -> float:
    """params.yaml's compile.tolerance (the bento ships params.yaml), for the start-up parity check."""
    return load_params(PARAMS_PATH).compile.tolerance


def _why_not_compiled() -> str:
    """What the evaluate stage recorded about the ONNX model (models/compiled/parity.json), if anything."""
    parity = read_parity()
    return f": {parity.reason}" if parity is not None and not parity.compiled else ""
