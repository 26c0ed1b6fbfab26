"""The BentoML service, in-process and over HTTP through its ASGI app: valid and invalid payloads."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.schema import RECORDS_FIELD, conform
from {{ cookiecutter.package_name }}.serving.settings import current

# The service under test requires a bearer token, as in production; every request below carries it
# unless a test takes it off.
API_TOKEN = "token-of-the-service-tests"


@pytest.fixture(scope="module", autouse=True)
def record_sink(tmp_path_factory) -> Path:
    """The service's settings here: its prediction record goes to a fresh folder, not the project's, and
    it requires a token. They are read when the service is imported (its start-up), once per process."""
    sink = tmp_path_factory.mktemp("records")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREDICTION_RECORD", str(sink))
        patch.setenv("PREDICTION_RECORD_FLUSH_S", "0.1")
        patch.setenv("API_TOKEN", API_TOKEN)
        current.cache_clear()  # read again, with these variables
        yield sink
    current.cache_clear()


@pytest.fixture(scope="module")
def service_module(schema, model_path):
    """Imported once the pipeline has written the schema and the model they load."""
    from {{ cookiecutter.package_name }} import service

    return service


@pytest.fixture(scope="module")
def predict(service_module):
    from {{ cookiecutter.package_name }} import predict

    return predict


@pytest.fixture(scope="module")
def predictor(predict):
    """The trained model as the service loads it (its compiled twin when parity holds), loaded once."""
    return predict.Predictor()


@pytest.fixture(scope="module")
def records(params, held_out) -> list[dict]:
    """Three held-out rows as a client would send them: JSON, missing values as null."""
    frame = held_out.drop(columns=[params.data.target]).head(3)
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="module")
def client(service_module):
    headers = {"authorization": f"Bearer {API_TOKEN}"}
    app = service_module.PredictionService.to_asgi()
    with TestClient(app, raise_server_exceptions=False, headers=headers) as test_client:
        assert service_module.LOADED.wait(timeout=60), "the model did not load"
        yield test_client


def test_one_model_call_gives_what_the_model_predicts(predict, predictor, records, params):
    typed = [predict.Record.model_validate(record) for record in records]
    rows = predictor.infer(typed)
    expected = predictor.model.predict(predict.frame(typed)).tolist()
    if params.task == "classification":
        assert [prediction for prediction, _ in rows] == expected
        assert all(sum(probabilities.values()) == pytest.approx(1.0) for _, probabilities in rows)
    else:
        # The compiled model (when it passed parity) answers within compile.tolerance of the largest
        # prediction's magnitude, the evaluate stage's own rule; scikit-learn answers exactly.
        allowed = params.compile.tolerance * max(abs(value) for value in expected)
        assert [prediction for prediction, _ in rows] == pytest.approx(expected, rel=0, abs=allowed)
        assert all(probabilities is None for _, probabilities in rows)


def test_the_record_takes_a_model_calls_arrays_as_the_records_and_answers_would_give_them(
    predict, predictor, records, params, tmp_path
):
    """The prediction record's table from a model call's own arrays (predict.Answers, sliced per request
    as the batcher slices them), sampled or not, equals the one built from the typed records and answers
    alone: the same ids, times, features (missing values null), predictions and probabilities."""
    from {{ cookiecutter.package_name }}.serving.record import Recorder

    typed = [predict.Record.model_validate(record) for record in records]
    answers = predictor.infer(typed)
    assert isinstance(answers[1:], predict.Answers)
    assert answers[1:].numeric.shape == (len(typed) - 1, len(predict.NUMERIC))
    at = datetime.now(UTC)
    with_arrays = [("a", at, typed[:1], answers[:1], range(1)), ("b", at, typed[1:], answers[1:], [1])]
    plain = [(request, when, given, list(rows), kept) for request, when, given, rows, kept in with_arrays]
    recorder = Recorder(str(tmp_path), params.monitor)
    try:
        (built,) = recorder._tables(with_arrays).values()
        (expected,) = recorder._tables(plain).values()
    finally:
        recorder.close()
    assert built.equals(expected)
    assert built.column("prediction_id").to_pylist() == ["a-0", "b-1"]
    assert built.column("prediction").to_pylist() == [answers[0][0], answers[2][0]]


def test_a_response_built_unvalidated_from_a_model_calls_arrays_is_the_validated_one(
    predict, predictor, records
):
    """Prediction.of skips validation (its values come from the model call): the JSON it gives equals the
    JSON of a Prediction validated from the same answers read as pairs, whole and sliced per request."""
    typed = [predict.Record.model_validate(record) for record in records]
    answers = predictor.infer(typed)
    for part in (answers, answers[1:], answers[:1]):
        pairs = list(part)
        probabilities = None if pairs[0][1] is None else [proba for _, proba in pairs]
        validated = predict.Prediction(
            ids=[f"r-{index}" for index in range(len(pairs))],
            predictions=[prediction for prediction, _ in pairs],
            probabilities=probabilities,
        )
        assert predict.Prediction.of(part, "r").model_dump_json() == validated.model_dump_json()
        assert predict.Prediction.of(pairs, "r").model_dump_json() == validated.model_dump_json()


def test_bulk_frame_is_the_frame_training_conforms_to(predict, schema, held_out, params):
    rows = json.loads(held_out.drop(columns=[params.data.target]).head(50).to_json(orient="records"))
    typed = [predict.Record.model_validate(row) for row in rows]
    dumped = pd.DataFrame([r.model_dump(by_alias=True) for r in typed], columns=predict.COLUMNS)
    pd.testing.assert_frame_equal(predict.frame(typed), conform(dumped, schema))


def test_http_predicts_one_and_many_records(client, records, params):
    for batch in (records[:1], records):
        response = client.post("/predict", json={"records": batch})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["predictions"]) == len(batch)
        assert ("probabilities" in body and body["probabilities"] is not None) == (
            params.task == "classification"
        )


def test_health_endpoints_answer(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def _first_required(schema):
    return next(column for column in schema.features if not column.nullable)


def _first_numeric(schema):
    return next(column for column in schema.features if column.numeric)


def _bad_payloads(records, schema):
    required, numeric = _first_required(schema), _first_numeric(schema)
    missing = {k: v for k, v in records[0].items() if k != required.name}
    return {
        "unknown column": ({"records": [records[0] | {"no_such_column": 1}]}, "no_such_column"),
        "missing column": ({"records": [missing]}, required.name),
        "wrong type": ({"records": [records[0] | {numeric.name: "abc"}]}, numeric.name),
        "empty batch": ({"records": []}, "records"),
        "not a list": ({"records": records[0]}, "records"),
    }


@pytest.mark.parametrize(
    "case", ["unknown column", "missing column", "wrong type", "empty batch", "not a list"]
)
def test_bad_request_gets_4xx_naming_the_problem(client, records, schema, case):
    payload, named = _bad_payloads(records, schema)[case]
    response = client.post("/predict", json=payload)
    assert 400 <= response.status_code < 500, response.text
    assert named in response.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(client, records, schema, literal):
    numeric = _first_numeric(schema).name
    body = json.dumps({"records": [records[0] | {numeric: 0.0}]}).replace(
        f'"{numeric}": 0.0', f'"{numeric}": {literal}'
    )
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text


def test_malformed_json_is_a_4xx(client):
    response = client.post("/predict", content=b'{"records": [', headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_oversized_body_is_refused_with_413(client, service_module, records):
    size = service_module.SETTINGS.max_body_bytes
    body = json.dumps({"records": records, "padding": "x" * size})
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_too_many_records_are_refused(client, service_module, records):
    many = records * (service_module.SETTINGS.max_records // len(records) + 1)
    response = client.post("/predict", json={"records": many})
    assert response.status_code == 400
    assert "records" in response.text


def test_the_request_example_written_by_the_pipeline_is_answered(client):
    example_path = Path("reports/request_example.json")
    if not example_path.exists():
        pytest.skip("reports/request_example.json does not exist yet: run `make train` first")
    example = json.loads(example_path.read_text())
    response = client.post("/predict", json=example)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == len(example["records"])


def test_415_for_a_body_that_is_not_json(client, records):
    response = client.post(
        "/predict", content=json.dumps({"records": records}), headers={"content-type": "multipart/form-data"}
    )
    assert response.status_code == 415


def test_openapi_document_names_every_answer_the_service_gives(client):
    document = client.get("/docs.json").json()
    assert document["paths"]["/predict"]["post"]["requestBody"]["required"] is True
    answers = document["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "429", "503", "504"} <= set(answers)
    detail = document["components"]["schemas"]["InvalidArgument"]["properties"]["detail"]
    assert {"type": "array", "items": {"type": "object"}} in detail["anyOf"]
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]


def test_the_request_bodys_one_field_is_the_records_field(client):
    """The body's field is named after the service's parameter; the package writes it as RECORDS_FIELD."""
    document = client.get("/docs.json").json()
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert list(body["properties"]) == [RECORDS_FIELD]
    assert body["required"] == [RECORDS_FIELD]


def test_not_ready_until_the_model_is_loaded(tmp_path, monkeypatch, service_module, model_path):
    """The model comes through a named pipe the test fills: until then the service is not ready."""
    pipe = tmp_path / "model.skops"
    os.mkfifo(pipe)
    served = service_module.SETTINGS.model_copy(update={"model_path": pipe})
    monkeypatch.setattr(service_module, "SETTINGS", served)
    instance = service_module.PredictionService()
    try:
        assert not instance.__is_ready__()
    finally:
        pipe.write_bytes(model_path.read_bytes())  # blocks until the loader opens the pipe
    assert service_module.LOADED.wait(timeout=60)
    assert instance.__is_ready__()
    assert instance.__is_alive__()


def test_gate_waits_for_the_model_then_answers_503_and_refuses_other_bodies():
    import threading

    from starlette.responses import PlainTextResponse

    from {{ cookiecutter.package_name }}.limits import ApiGate

    ready = threading.Event()
    gated = TestClient(ApiGate(PlainTextResponse("ok"), ready=ready, paths=("/predict",), wait_s=0.2))
    waiting = gated.post("/predict", json={})
    assert (waiting.status_code, waiting.headers["retry-after"]) == (503, "1")
    threading.Timer(0.05, ready.set).start()  # loaded while the request waits: it goes through
    assert gated.post("/predict", json={}).status_code == 200
    assert gated.get("/readyz").status_code == 200  # only the prediction paths wait
    assert gated.post("/predict", content=b"a=1", headers={"content-type": "text/plain"}).status_code == 415


def send(client, method: str, path: str, authorization: str | None, **request):
    """A request with this Authorization header instead of the client's (None: no header at all)."""
    built = client.build_request(method, path, **request)
    del built.headers["authorization"]
    if authorization is not None:
        built.headers["authorization"] = authorization
    return client.send(built)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token",
        f"Basic {API_TOKEN}",
        f"Bearer {API_TOKEN}x",
        f"Bearer {API_TOKEN[:-1]}",
        "Bearer",
    ],
    ids=["none", "wrong", "basic-scheme", "longer", "prefix", "empty"],
)
def test_predict_without_the_right_bearer_token_is_401(client, records, authorization):
    response = send(client, "POST", "/predict", authorization, json={"records": records})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"error": "missing or wrong bearer token"}


def test_predict_with_the_bearer_token_is_200_whatever_the_scheme_case(client, records):
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = send(client, "POST", "/predict", f"{scheme} {API_TOKEN}", json={"records": records})
        assert response.status_code == 200, response.text


def test_a_request_without_the_token_is_refused_before_its_body_is_read(client, service_module):
    """The token check runs first: an oversized body without the token is a 401, not a 413."""
    body = b"x" * (service_module.SETTINGS.max_body_bytes + 1)
    response = send(
        client, "POST", "/predict", None, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401


def test_probes_need_no_token(client):
    """/metrics is open too (tests/test_auth.py); it is not requested here: BentoML serves it from the
    multiprocess registry `bentoml serve` sets up, which an in-process test client lacks (the request hung
    for the 10 s traffic timeout and answered 500). The template's own tests scrape it from a real server."""
    assert send(client, "GET", "/livez", None).status_code == 200
    assert send(client, "GET", "/readyz", None).status_code == 200
    assert send(client, "GET", "/docs.json", None).status_code == 401


def test_every_prediction_has_an_id_starting_with_the_request_id_header(client, records):
    first, second = (client.post("/predict", json={"records": records}) for _ in range(2))
    request = first.headers["x-request-id"]
    assert first.json()["ids"] == [f"{request}-{index}" for index in range(len(records))]
    assert second.headers["x-request-id"] != request, "each request gets its own id"


@pytest.mark.parametrize("given", ["order-2031-01-01T10:00:00.123", "a" * 128])
def test_the_clients_own_request_id_is_used(client, records, given):
    response = client.post("/predict", json={"records": records[:2]}, headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given
    assert response.json()["ids"] == [f"{given}-0", f"{given}-1"]


@pytest.mark.parametrize("given", ["has space", "a" * 129, "-leading-dash", "quote'", "semi;colon"])
def test_a_malformed_request_id_is_refused_with_400(client, records, given):
    response = client.post("/predict", json={"records": records[:1]}, headers={"X-Request-Id": given})
    assert response.status_code == 400
    assert "X-Request-Id" in response.json()["error"]  # the object the OpenAPI document gives for a 400


def test_served_records_are_in_the_prediction_record_as_sent_and_answered(client, records, record_sink):
    import pyarrow.parquet as pq

    answers = [client.post("/predict", json={"records": records}).json() for _ in range(3)]
    served = [
        (i, p, record)
        for a in answers
        for i, p, record in zip(a["ids"], a["predictions"], records, strict=True)
    ]
    deadline = time.monotonic() + 10
    while True:  # the writer thread writes every 0.1 s here (PREDICTION_RECORD_FLUSH_S)
        files = list(record_sink.glob("date=*/part-*.parquet"))
        written = {row["prediction_id"]: row for path in files for row in pq.read_table(path).to_pylist()}
        if all(i in written for i, _, _ in served) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for prediction_id, prediction, record in served:
        assert written[prediction_id]["prediction"] == prediction
        assert {name: written[prediction_id][name] for name in record} == record
