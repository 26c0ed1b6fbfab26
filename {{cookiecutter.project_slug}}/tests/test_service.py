"""The BentoML service, in-process and over HTTP through its ASGI app: valid and invalid payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def service_module(schema, model_path):
    from {{ cookiecutter.package_name }} import service

    return service


@pytest.fixture(scope="module")
def records(params, held_out) -> list[dict]:
    """Three held-out rows as a client would send them: JSON, missing values as null."""
    frame = held_out.drop(columns=[params.data.target]).head(3)
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="module")
def client(service_module):
    with TestClient(service_module.Model.to_asgi(), raise_server_exceptions=False) as test_client:
        yield test_client


def test_in_process_prediction_matches_the_model(service_module, records, params, held_out):
    instance = service_module.Model()
    typed = [service_module.Record.model_validate(record) for record in records]
    answer = instance.predict(records=typed)
    expected = instance.model.predict(instance.frame(typed)).tolist()
    assert answer.predictions == expected
    if params.task == "classification":
        assert len(answer.probabilities) == len(records)
        assert all(sum(row.values()) == pytest.approx(1.0) for row in answer.probabilities)
    else:
        assert answer.probabilities is None


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
    size = service_module.MAX_BODY_BYTES
    body = json.dumps({"records": records, "padding": "x" * size})
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_too_many_records_are_refused(client, service_module, records):
    many = records * (service_module.MAX_RECORDS // len(records) + 1)
    response = client.post("/predict", json={"records": many})
    assert response.status_code == 400
    assert "records" in response.text


def test_frame_keeps_training_column_order(service_module, records, schema):
    instance = service_module.Model()
    typed = [service_module.Record.model_validate(record) for record in reversed(records)]
    frame = instance.frame(typed)
    assert list(frame.columns) == [column.name for column in schema.features]
    assert isinstance(frame, pd.DataFrame)


def test_the_request_example_written_by_the_pipeline_is_answered(client):
    example_path = Path("reports/request_example.json")
    if not example_path.exists():
        pytest.skip("reports/request_example.json does not exist yet: run `make train` first")
    example = json.loads(example_path.read_text())
    response = client.post("/predict", json=example)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == len(example["records"])
