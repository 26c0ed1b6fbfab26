"""The service's settings (serving/settings.py): the defaults, each variable parsed, every bad value named
on its own line, and a service that does not start on one."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.serving.settings import ServingSettings, SettingsError, names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "{{ cookiecutter.package_name }}"


def test_the_defaults_without_any_variable():
    settings = ServingSettings.from_environ({})
    assert settings.model_dump() == {
        "model_uri": None,
        "model_path": Path("models/model.skops"),
        "onnx_model_path": Path("models/compiled/model.onnx"),
        "model_runtime": "auto",
        "model_version": None,
        "schema_path": Path("data/schema.json"),
        "params_path": Path("params.yaml"),
        "profile_path": Path("models/profile.json"),
        "max_records": 1000,
        "max_body_bytes": 4 * 1024 * 1024,
        "max_concurrency": 128,
        "request_timeout_s": 10.0,
        "ready_wait_s": 5.0,
        "max_batch_rows": None,
        "max_batch_wait_ms": 20.0,
        "service_workers": 0,
        "access_log": False,
        "api_token": None,
        "api_token_file": None,
        "model_metrics": True,
        "model_metrics_flush_s": 1.0,
        "prediction_record": "records",
        "prediction_record_batch_rows": 5000,
        "prediction_record_flush_s": 30.0,
        "prediction_record_max_queued": 50_000,
    }
    assert settings.workers == "cpu_count"  # one worker per CPU the container may use
    assert settings.batch_rows == 1000  # a batch may hold every record of a full request
    assert settings.record_sink == "records"
    assert settings.bearer_token() is None


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("MODEL_URI", "models:/churn@champion", lambda s: s.model_uri == "models:/churn@champion"),
        ("MODEL_PATH", "elsewhere/model.skops", lambda s: s.model_path == Path("elsewhere/model.skops")),
        ("ONNX_MODEL_PATH", "other.onnx", lambda s: s.onnx_model_path == Path("other.onnx")),
        ("MODEL_RUNTIME", "sklearn", lambda s: s.model_runtime == "sklearn"),
        ("MODEL_VERSION", "v1.2.0", lambda s: s.model_version == "v1.2.0"),
        ("SCHEMA_PATH", "other/schema.json", lambda s: s.schema_path == Path("other/schema.json")),
        ("PARAMS_PATH", "other.yaml", lambda s: s.params_path == Path("other.yaml")),
        ("PROFILE_PATH", "other.json", lambda s: s.profile_path == Path("other.json")),
        ("MAX_RECORDS", "400", lambda s: (s.max_records, s.batch_rows) == (400, 400)),
        ("MAX_BODY_BYTES", "1024", lambda s: s.max_body_bytes == 1024),
        ("MAX_CONCURRENCY", "16", lambda s: s.max_concurrency == 16),
        ("REQUEST_TIMEOUT_S", "2.5", lambda s: s.request_timeout_s == 2.5),
        ("READY_WAIT_S", "0", lambda s: s.ready_wait_s == 0.0),
        ("MAX_BATCH_ROWS", "64", lambda s: (s.max_batch_rows, s.batch_rows) == (64, 64)),
        ("MAX_BATCH_WAIT_MS", "0.5", lambda s: s.max_batch_wait_ms == 0.5),
        ("SERVICE_WORKERS", "3", lambda s: s.workers == 3),
        ("SERVICE_WORKERS", "0", lambda s: s.workers == "cpu_count"),
        ("ACCESS_LOG", "1", lambda s: s.access_log is True),
        ("ACCESS_LOG", "yes", lambda s: s.access_log is True),
        ("API_TOKEN", " s3cret ", lambda s: s.bearer_token() == b"s3cret"),
        ("API_TOKEN", "  ", lambda s: s.bearer_token() is None),
        ("MODEL_METRICS", "0", lambda s: s.model_metrics is False),
        ("MODEL_METRICS", "FALSE", lambda s: s.model_metrics is False),
        ("MODEL_METRICS_FLUSH_S", "0.5", lambda s: s.model_metrics_flush_s == 0.5),
        ("PREDICTION_RECORD", "s3://bucket/records/", lambda s: s.record_sink == "s3://bucket/records/"),
        ("PREDICTION_RECORD", "off", lambda s: s.record_sink is None),
        ("PREDICTION_RECORD", "", lambda s: s.record_sink is None),  # blank: off, as it always was
        ("PREDICTION_RECORD_BATCH_ROWS", "10", lambda s: s.prediction_record_batch_rows == 10),
        ("PREDICTION_RECORD_FLUSH_S", "0.1", lambda s: s.prediction_record_flush_s == 0.1),
        ("PREDICTION_RECORD_MAX_QUEUED", "99", lambda s: s.prediction_record_max_queued == 99),
    ],
)
def test_each_variable_is_read(variable, value, read):
    assert read(ServingSettings.from_environ({variable: value}))


def test_every_variable_the_settings_read_is_tested_above():
    tested = {"MODEL_URI", "MODEL_PATH", "ONNX_MODEL_PATH", "MODEL_RUNTIME", "MODEL_VERSION", "SCHEMA_PATH",
              "PARAMS_PATH", "PROFILE_PATH", "MAX_RECORDS", "MAX_BODY_BYTES", "MAX_CONCURRENCY",
              "REQUEST_TIMEOUT_S", "READY_WAIT_S", "MAX_BATCH_ROWS", "MAX_BATCH_WAIT_MS", "SERVICE_WORKERS",
              "ACCESS_LOG", "API_TOKEN", "API_TOKEN_FILE", "MODEL_METRICS", "MODEL_METRICS_FLUSH_S",
              "PREDICTION_RECORD", "PREDICTION_RECORD_BATCH_ROWS", "PREDICTION_RECORD_FLUSH_S",
              "PREDICTION_RECORD_MAX_QUEUED"}  # fmt: skip
    assert set(names()) == tested


def test_a_blank_variable_counts_as_unset():
    blank = {name: " " for name in names() if name != "PREDICTION_RECORD"}
    assert ServingSettings.from_environ(blank) == ServingSettings.from_environ({})


def test_the_token_file_of_a_mounted_secret_wins_over_the_variable(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-the-secret\n")  # `kubectl create secret --from-file` keeps a trailing newline
    environ = {"API_TOKEN_FILE": str(secret), "API_TOKEN": "from-the-environment"}
    settings = ServingSettings.from_environ(environ)
    assert settings.bearer_token() == b"from-the-secret"
    assert ServingSettings.from_environ({"API_TOKEN": "from-the-environment"}).bearer_token() == (
        b"from-the-environment"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("\n", "the file is empty: refusing to serve without the token"),
        (None, "cannot be read: No such file or directory"),
    ],
)
def test_an_empty_or_missing_token_file_stops_the_service_rather_than_opening_it(tmp_path, content, reason):
    secret = tmp_path / "token"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(SettingsError) as raised:
        ServingSettings.from_environ({"API_TOKEN_FILE": str(secret)})
    assert raised.value.lines == [
        f"  API_TOKEN_FILE={str(secret)!r}: {reason}; allowed: a readable file holding the token"
    ]


BAD = {
    "MAX_RECORDS": "many",
    "MAX_BODY_BYTES": "0",
    "REQUEST_TIMEOUT_S": "-1",
    "MAX_BATCH_WAIT_MS": "nan",
    "ACCESS_LOG": "sometimes",
    "MODEL_RUNTIME": "onnxruntime",
    "PREDICTION_RECORD_MAX_QUEUED": "1.5",
}


def test_every_bad_value_is_reported_at_once_one_line_each():
    environ = BAD | {"MAX_CONCURRENCY": "64", "API_TOKEN": "s3cret"}  # good values are not reported
    with pytest.raises(SettingsError) as raised:
        ServingSettings.from_environ(environ)
    lines = raised.value.lines
    by_name = {line.split("=", 1)[0].strip(): line for line in lines}
    assert len(lines) == len(by_name) == len(BAD)
    assert set(by_name) == set(BAD)
    for name, value in BAD.items():
        assert by_name[name].startswith(f"  {name}={value!r}: "), by_name[name]
        assert "; allowed: " in by_name[name], by_name[name]
    assert by_name["MODEL_RUNTIME"].endswith("; allowed: auto or sklearn")
    assert by_name["MAX_BODY_BYTES"].endswith("; allowed: a whole number of bytes, at least 1")
    assert by_name["MAX_BATCH_WAIT_MS"].startswith(
        "  MAX_BATCH_WAIT_MS='nan': input should be a finite number"
    )
    assert str(raised.value).splitlines()[1:] == lines  # a heading, then the lines


def test_a_bad_value_never_prints_the_token():
    with pytest.raises(SettingsError) as raised:
        ServingSettings.from_environ({"API_TOKEN": "s3cret", "MAX_RECORDS": "s3cret"})
    assert raised.value.lines[0].startswith("  MAX_RECORDS='s3cret'")
    assert ServingSettings.from_environ({"API_TOKEN": "s3cret"}).model_dump()["api_token"] != "s3cret"
    assert "s3cret" not in repr(ServingSettings.from_environ({"API_TOKEN": "s3cret"}))


def test_the_service_does_not_start_on_a_bad_value():
    """`bentoml serve` imports the service, which reads the settings first: it exits 1 with the lines."""
    environ = {name: value for name, value in os.environ.items() if name not in names()}
    environ |= {"MAX_BATCH_ROWS": "-3", "SERVICE_WORKERS": "two", "MODEL_METRICS": "maybe"}
    bentoml = Path(sys.executable).with_name("bentoml")
    served = subprocess.run(
        [str(bentoml), "serve", "{{ cookiecutter.package_name }}.service:PredictionService", "--port", "0"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert served.returncode != 0
    named = ("  MAX_BATCH_ROWS=", "  SERVICE_WORKERS=", "  MODEL_METRICS=")
    bad = [line for line in served.stderr.splitlines() if line.startswith(named)]
    assert bad == [
        "  MAX_BATCH_ROWS='-3': input should be greater than or equal to 1; allowed: a whole number of rows, "
        "at least 1",
        "  SERVICE_WORKERS='two': input should be a valid integer, unable to parse string as an integer; "
        "allowed: a whole number of workers, 0 for one per CPU",
        "  MODEL_METRICS='maybe': input should be a valid boolean, unable to interpret input; allowed: 1, "
        "true, yes, on or 0, false, no, off",
    ], served.stderr
    assert "Traceback" not in served.stderr, served.stderr


SERVING = ["service.py", "predict.py", "limits.py", "batching.py", "openapi.py", "model.py"]


def test_the_serving_code_reads_the_environment_only_through_the_settings():
    readers = []
    modules = [PACKAGE / name for name in SERVING] + sorted((PACKAGE / "serving").glob("*.py"))
    for path in (path for path in modules if path.name != "settings.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert readers == []


def test_a_settled_worker_keeps_its_start_up_objects_out_of_the_collectors_passes():
    """settle_collector (each worker once its model is loaded, and the benchmark's ceiling): what is alive
    is frozen, and the young generation is collected every 20,000 allocations instead of 700."""
    import gc

    from {{ cookiecutter.package_name }}.serving.settings import settle_collector

    threshold = gc.get_threshold()
    try:
        settle_collector()
        assert gc.get_threshold() == (20_000, 20, 100)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
