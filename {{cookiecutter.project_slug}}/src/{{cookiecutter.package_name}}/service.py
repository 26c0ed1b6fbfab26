"""The BentoML service: typed requests built from data/schema.json, the skops model loaded once per worker.

Concurrent requests share model calls (batching.py). The worker count follows the CPUs the service may
use. The body size (413), the time a request may take (504) and the requests in flight (429) are bounded.
"""

from __future__ import annotations

import logging
import threading

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import ValidationError

from .batching import Batcher
from .limits import ApiGate, BodySizeLimit
from .openapi import CompleteOpenAPI
from .predict import SCHEMA, Prediction, Predictor, Records
from .serving import instruments
from .serving.auth import BearerToken
from .serving.record import Recorder, RequestIdCheck, request_id
from .serving.settings import current, settle_collector

# Every setting, read from the environment and checked once, here at start-up: a bad value stops the
# service with one line per bad variable (serving/settings.py).
SETTINGS = current()


class RefusalsWithoutTraceback(logging.Filter):
    """BentoML logs every refused request with a traceback: one line each instead, and never the input.

    A bad request is the client's error, not the server's; a traceback per request lets any client
    flood the log, and the payload can hold personal data.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            first = error.errors(include_input=False)[0]
            reason = f"{error.error_count()} validation error(s), first {first['type']} at {first['loc']}"
        elif isinstance(error, BentoMLException) and (
            error.error_code < 500 or isinstance(error, ServiceUnavailable)
        ):
            reason = f"{int(error.error_code)} {error}"
        else:
            return True
        record.msg, record.args = "%s %s refused: %s", (*record.args, reason)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(instruments.RefusalCounter())  # first
logging.getLogger("bentoml._internal.server.http_app").addFilter(RefusalsWithoutTraceback())
LOADED = threading.Event()  # set once this worker's model is in memory


# Named by its role (model.py builds the model it serves). "cpu_count" follows the container's CPU limit;
# MAX_CONCURRENCY counts over all workers, beyond it 429.
# A line per request costs a quarter of the event loop's time under load (profiled); /metrics counts
# requests by endpoint and status anyway, so the access log is off unless ACCESS_LOG turns it on.
@bentoml.service(
    workers=SETTINGS.workers,
    traffic={"timeout": SETTINGS.request_timeout_s, "max_concurrency": SETTINGS.max_concurrency},
    http={"cors": {"enabled": False}},
    logging={"access": {"enabled": SETTINGS.access_log}},
)
class PredictionService:
    def __init__(self) -> None:
        self.predictor: Predictor | None = None
        self.load_error: BaseException | None = None
        self.loaded = LOADED
        self.loaded.clear()  # one instance per worker: this worker's model is not in memory yet
        # The model loads beside the server, so /readyz can answer 503 until it is in memory.
        threading.Thread(target=self._load, name="load-model", daemon=True).start()

    def _load(self) -> None:
        try:
            self.predictor = Predictor(settings=SETTINGS)
            instruments.start(SCHEMA, self.predictor.classes, SETTINGS)  # /metrics: inputs, answers, refusals
            infer = instruments.observing(self.predictor.infer)
            # A model call costs about the same for 1,000 rows as for 1 (docs/decisions.md), so by
            # default one batch may hold every record of a full request; under load a batch gathers for
            # as long as the last model call took, up to MAX_BATCH_WAIT_MS (batching.py).
            self.batcher = Batcher(infer, SETTINGS.batch_rows, SETTINGS.max_batch_wait_ms / 1000)
            self.record = Recorder.from_settings(SETTINGS)  # None when PREDICTION_RECORD=off
        except BaseException as error:  # /livez turns 503 so the worker is replaced; logged below
            self.load_error = error
            raise
        settle_collector()  # what is alive now lives as long as the worker
        self.loaded.set()

    def __is_ready__(self) -> bool:
        return self.loaded.is_set()

    def __is_alive__(self) -> bool:
        return self.load_error is None

    # BentoML names the request body's field after the parameter: `records` is schema.RECORDS_FIELD.
    @bentoml.api
    async def predict(self, records: Records, context: bentoml.Context) -> Prediction:
        """Predict one or many records; each must match the training schema exactly."""
        if not self.loaded.is_set():
            raise ServiceUnavailable(f"the model is not loaded: {self.load_error or 'still loading'}")
        request = request_id(context)  # the client's X-Request-Id or a new one, echoed in the answer
        answers = await self.batcher(records)  # predict.Answers: this request's share of a model call
        if self.record is not None:
            self.record.submit(request, records, answers)  # never waits: queued for the writer thread
        return Prediction.of(answers, request)

    @bentoml.on_shutdown
    def close(self) -> None:
        if self.loaded.is_set():
            self.batcher.close()
            if self.record is not None:
                self.record.close()  # writes the records still queued
        instruments.stop()


API_PATHS = ("/predict",)
# BentoML runs the middleware in the order added: the token check first, so a request without the
# token costs no body read and no model call (and learns nothing from a 413 or 415).
PredictionService.add_asgi_middleware(BearerToken, token=SETTINGS.bearer_token())
PredictionService.add_asgi_middleware(ApiGate, ready=LOADED, paths=API_PATHS, wait_s=SETTINGS.ready_wait_s)
PredictionService.add_asgi_middleware(BodySizeLimit, max_bytes=SETTINGS.max_body_bytes)
PredictionService.add_asgi_middleware(CompleteOpenAPI, api_paths=API_PATHS)
PredictionService.add_asgi_middleware(RequestIdCheck, paths=API_PATHS)
