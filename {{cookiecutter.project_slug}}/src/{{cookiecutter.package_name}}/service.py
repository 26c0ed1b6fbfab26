"""The BentoML service: typed requests built from data/schema.json, the skops model loaded once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import bentoml
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .limits import BodySizeLimit
from .model import MODEL_PATH, load_model
from .schema import SCHEMA_PATH, Schema, conform, record_model

MAX_RECORDS = int(os.environ.get("MAX_RECORDS", "1000"))
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", str(1024 * 1024)))

SCHEMA = Schema.load(Path(os.environ.get("SCHEMA_PATH", SCHEMA_PATH)))
Record = record_model(SCHEMA)
Records = Annotated[list[Record], Field(min_length=1, max_length=MAX_RECORDS)]


class Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    predictions: list[int | float | str] = Field(description="one prediction per record, in order")
    probabilities: list[dict[str, float]] | None = Field(
        None, description="classification only: the probability of each class, per record"
    )


@bentoml.service(
    traffic={"timeout": 10, "max_concurrency": 64},
    http={"cors": {"enabled": False}},
)
class Model:
    def __init__(self) -> None:
        self.model = load_model(Path(os.environ.get("MODEL_PATH", MODEL_PATH)))
        self.columns = [column.name for column in SCHEMA.features]
        self.classes = [str(label) for label in getattr(self.model, "classes_", [])]

    def frame(self, records: list[BaseModel]) -> pd.DataFrame:
        """The records as the frame training saw: same columns, order and types (shared `conform`)."""
        rows = [record.model_dump(by_alias=True) for record in records]
        return conform(pd.DataFrame(rows, columns=self.columns), SCHEMA)

    @bentoml.api
    def predict(self, records: Records) -> Prediction:
        """Predict one or many records; each must match the training schema exactly."""
        frame = self.frame(records)
        if not self.classes:
            return Prediction(predictions=self.model.predict(frame).tolist())
        # One model call: a scikit-learn classifier's predict is the class of highest probability.
        proba = self.model.predict_proba(frame)
        predictions = self.model.classes_[proba.argmax(axis=1)].tolist()
        probabilities = [dict(zip(self.classes, row, strict=True)) for row in proba.tolist()]
        return Prediction(predictions=predictions, probabilities=probabilities)


Model.add_asgi_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
