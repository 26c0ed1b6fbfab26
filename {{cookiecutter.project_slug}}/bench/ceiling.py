"""The ceiling: a BentoML service with the same typed request and response as the service and no model.

It validates the records and answers a constant prediction per record, of the shape the service gives
(for a classifier, a class and a probability per class), with the service's worker count, its access log
off and its garbage-collector settings, so it costs what BentoML itself costs on this machine at its
best: no service can answer faster. `make bench` reports the service as a share of it.
Run it with `bentoml serve bench.ceiling:Ceiling`.
"""

from __future__ import annotations

import uuid

import bentoml

from {{ cookiecutter.package_name }}.monitoring.profile import load_profile
from {{ cookiecutter.package_name }}.predict import Prediction, Records, Row
from {{ cookiecutter.package_name }}.serving.settings import current, settle_collector

WORKERS = current().workers  # as the service reads SERVICE_WORKERS


def constant_answer() -> Row:
    """A classifier's answer: its most frequent class, with each class's share of the held-out
    predictions as its probability (models/profile.json, which training writes); a regressor's: 0.0."""
    try:
        shares = load_profile(current().profile_path).get("prediction", {}).get("shares")
    except FileNotFoundError:
        shares = None
    if not shares:
        return (0.0, None)
    return (max(shares, key=shares.get), {str(label): float(share) for label, share in shares.items()})


ANSWER = constant_answer()


@bentoml.service(workers=WORKERS, http={"cors": {"enabled": False}}, logging={"access": {"enabled": False}})
class Ceiling:
    def __init__(self) -> None:
        settle_collector()  # as each worker of the service does once its model is loaded

    @bentoml.api
    async def predict(self, records: Records) -> Prediction:
        return Prediction.of([ANSWER] * len(records), uuid.uuid4().hex)
