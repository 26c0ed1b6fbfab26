"""What every way of serving the model shares: the typed request and response, the frame, one model call.

The BentoML service (service.py) batches calls to `Predictor.infer`; the benchmark's plain FastAPI app
(bench/fastapi_app.py) calls it once per request, so the two differ only in how requests reach the model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .model import load_model, serving_model
from .schema import SCHEMA_PATH, Schema, as_text, record_model

MAX_RECORDS = int(os.environ.get("MAX_RECORDS", "1000"))

SCHEMA = Schema.load(Path(os.environ.get("SCHEMA_PATH", SCHEMA_PATH)))
Record = record_model(SCHEMA)
Records = Annotated[list[Record], Field(min_length=1, max_length=MAX_RECORDS)]
COLUMNS = [column.name for column in SCHEMA.features]
NUMERIC = [index for index, column in enumerate(SCHEMA.features) if column.numeric]
TEXT = [index for index, column in enumerate(SCHEMA.features) if not column.numeric]

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
    def of(cls, rows: list[Row], request_id: str) -> Prediction:
        ids = [f"{request_id}-{index}" for index in range(len(rows))]
        predictions = [prediction for prediction, _ in rows]
        if rows and rows[0][1] is None:
            return cls(ids=ids, predictions=predictions)
        probabilities = [probabilities for _, probabilities in rows]
        return cls(ids=ids, predictions=predictions, probabilities=probabilities)


def frame(records: list[BaseModel]) -> pd.DataFrame:
    """The records as the frame training saw: the columns, order and dtypes of `schema.conform`, in bulk.

    A Record's fields are the schema's features in order and already typed, so the numbers go into one
    float array (None becomes NaN) and text stays text; test_service checks it equals `conform`'s frame.
    """
    rows = [tuple(record.__dict__.values()) for record in records]
    numbers = np.array([[row[index] for index in NUMERIC] for row in rows], dtype=float)
    features = pd.DataFrame(numbers.reshape(len(rows), len(NUMERIC)), columns=[COLUMNS[i] for i in NUMERIC])
    if not TEXT:
        return features
    for index in TEXT:
        features[COLUMNS[index]] = as_text(pd.Series([row[index] for row in rows], dtype=object))
    return features[COLUMNS]


class Predictor:
    """The trained pipeline and what is worked out once from it (its classes as text)."""

    def __init__(self, path: Path | None = None) -> None:
        # Without a path: MODEL_URI (a model in MLflow, e.g. `models:/<name>@champion`) or MODEL_PATH.
        self.model = load_model(path) if path else serving_model()
        self.classes = [str(label) for label in getattr(self.model, "classes_", [])]

    def infer(self, records: list[BaseModel]) -> list[Row]:
        """One model call for any number of records; a (prediction, probabilities) pair per record."""
        features = frame(records)
        if not self.classes:
            return [(value, None) for value in self.model.predict(features).tolist()]
        # A scikit-learn classifier's predict is the class of highest probability: one call gives both.
        proba = self.model.predict_proba(features)
        predictions = self.model.classes_[proba.argmax(axis=1)].tolist()
        return [
            (label, dict(zip(self.classes, row, strict=True)))
            for label, row in zip(predictions, proba.tolist(), strict=True)
        ]
