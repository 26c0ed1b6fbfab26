"""The optional bearer token (serving/auth.py): what passes without one, and how it is compared (where the
token comes from: test_settings.py)."""

from __future__ import annotations

import hmac

from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.serving import auth


def test_no_token_configured_means_no_check():
    open_app = TestClient(auth.BearerToken(PlainTextResponse("ok"), token=None))
    assert open_app.post("/predict").status_code == 200


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
