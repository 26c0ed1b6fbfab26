"""The ceiling: a BentoML service with the same typed request and response as the service and no model.

It validates the records and answers a constant prediction per record, with the service's worker count
and its access log off, so it costs what BentoML itself costs on this machine: no service can answer
faster. `make bench` reports the service as a share of it. Run it with `bentoml serve bench.ceiling:Ceiling`.
"""

from __future__ import annotations

import uuid

import bentoml

from {{ cookiecutter.package_name }}.predict import Prediction, Records
from {{ cookiecutter.package_name }}.serving.settings import current

WORKERS = current().workers  # as the service reads SERVICE_WORKERS


@bentoml.service(workers=WORKERS, http={"cors": {"enabled": False}}, logging={"access": {"enabled": False}})
class Ceiling:
    @bentoml.api
    async def predict(self, records: Records) -> Prediction:
        return Prediction.of([(0, None)] * len(records), uuid.uuid4().hex)
