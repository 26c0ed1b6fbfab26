"""The optional bearer token (serving/auth.py): where the token comes from, and what passes without one."""

from __future__ import annotations

import hmac

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.serving import auth


def test_no_token_configured_means_no_check():
    assert auth.configured_token({}) is None
    assert auth.configured_token({"API_TOKEN": "  "}) is None
    open_app = TestClient(auth.BearerToken(PlainTextResponse("ok"), token=None))
    assert open_app.post("/predict").status_code == 200


def test_the_token_file_of_a_mounted_secret_wins_over_the_variable(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-the-secret\n")  # `kubectl create secret --from-file` keeps a trailing newline
    environ = {"API_TOKEN_FILE": str(secret), "API_TOKEN": "from-the-environment"}
    assert auth.configured_token(environ) == b"from-the-secret"
    assert auth.configured_token({"API_TOKEN": "from-the-environment"}) == b"from-the-environment"


def test_an_empty_token_file_stops_the_service_rather_than_opening_it(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        auth.configured_token({"API_TOKEN_FILE": str(secret)})


def test_the_token_is_compared_in_constant_time(monkeypatch):
    compared, compare_digest = [], hmac.compare_digest

    def spy(presented, expected):
        compared.append((presented, expected))
        return compare_digest(presented, expected)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    guarded = TestClient(auth.BearerToken(PlainTextResponse("ok"), token=b"s3cret"))
    assert guarded.get("/predict", headers={"authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/predict", headers={"authorization": "Bearer s3creT"}).status_code == 401
    assert compared == [(b"s3cret", b"s3cret"), (b"s3creT", b"s3cret")]


def test_only_the_open_paths_pass_without_the_token():
    guarded = TestClient(auth.BearerToken(PlainTextResponse("ok"), token=b"s3cret"))
    assert {path: guarded.get(path).status_code for path in ("/livez", "/readyz", "/metrics")} == {
        "/livez": 200, "/readyz": 200, "/metrics": 200,
    }  # fmt: skip
    assert {path: guarded.get(path).status_code for path in ("/predict", "/docs.json", "/livez/x", "/")} == {
        "/predict": 401, "/docs.json": 401, "/livez/x": 401, "/": 401,
    }  # fmt: skip
