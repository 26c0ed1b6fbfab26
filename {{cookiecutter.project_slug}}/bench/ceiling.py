"""The ceiling: a BentoML service with the same typed request and response as the service and no model.

It validates the records and answers a constant prediction per record, with the service's worker count,
its access log off and its garbage-collector settings, so it costs what BentoML itself costs on this
machine at its best: no service can answer faster. `make bench` reports the service as a share of it.
Run it with `bentoml serve bench.ceiling:Ceiling`.
"""

from __future__ import annotations

import uuid

import bentoml

from {{ cookiecutter.package_name }}.predict import Prediction, Records
from {{ cookiecutter.package_name }}.serving.settings import current, settle_collector

WORKERS = current().workers  # as the service reads SERVICE_WORKERS


@bentoml.service(workers=WORKERS, http={"cors": {"enabled": False}}, logging={"access": {"enabled": False}})
class Ceiling:
    def __init__(self) -> None:
        settle_collector()  # as each worker of the service does once its model is loaded

    @bentoml.api
    async def predict(self, records: Records) -> Prediction:
        return Prediction.of([(0, None)] * len(records), uuid.uuid4().hex)
