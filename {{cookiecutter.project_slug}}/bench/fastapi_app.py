"""The first alternative: a plain FastAPI app on uvicorn, as a team would write it by hand.

Same model, same typed request and response, same frame and single model call as the service
(`Predictor.infer`), one call per request: the benchmark measures what batching and the service add.
Run it with `uvicorn bench.fastapi_app:app --workers N`.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.predict import Prediction, Predictor, Records


class Body(BaseModel):
    records: Records


predictor = Predictor()
app = FastAPI(title="fastapi alternative")


@app.post("/predict")
def predict(body: Body) -> Prediction:
    return Prediction.of(predictor.infer(body.records), uuid.uuid4().hex)
