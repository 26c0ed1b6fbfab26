"""The service's settings: every environment variable it reads, parsed and checked once, at start-up.

Each field is named after its variable (the field's alias). A blank variable counts as unset (a Makefile
or a manifest passing an unset variable through), except PREDICTION_RECORD, where blank means off as
`off` does. A bad value stops the start-up with one line per bad variable: its name, its value and what
is allowed, every bad variable at once.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ..config import PARAMS_PATH
from ..model_io import MODEL_PATH, ONNX_PATH
from ..monitoring.profile import PROFILE_PATH
from ..schema import SCHEMA_PATH

WHOLE = "a whole number"
SECONDS = "a number of seconds"
SWITCH = "1, true, yes, on or 0, false, no, off"
RECORD_OFF = frozenset({"off", "none", "false", "0", ""})  # PREDICTION_RECORD values that keep no record
SECRET = frozenset({"API_TOKEN"})  # never printed, not even in an error
BLANK_IS_A_VALUE = frozenset({"PREDICTION_RECORD"})


def setting(default, name: str, allowed: str, **constraints):
    """A field read from the variable `name`; `allowed` completes a bad value's error line."""
    return Field(default, alias=name, description=allowed, **constraints)


class SettingsError(ValueError):
    """Bad serving settings: the message holds one line per bad variable."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("the service's settings are invalid (environment variables):\n" + "\n".join(lines))


class ServingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    # The model (model.py's serving_files): MLflow by URI, else the local files.
    model_uri: str | None = setting(None, "MODEL_URI", "an MLflow model URI (models:/<name>@<alias>)")
    model_path: Path = setting(MODEL_PATH, "MODEL_PATH", "the path of a skops file")
    onnx_model_path: Path = setting(ONNX_PATH, "ONNX_MODEL_PATH", "the path of an ONNX file")
    model_runtime: Literal["auto", "sklearn"] = setting("auto", "MODEL_RUNTIME", "auto or sklearn")
    # The version the prediction record and /metrics name; else MODEL_URI, else the model file's hash.
    model_version: str | None = setting(None, "MODEL_VERSION", "any text")
    schema_path: Path = setting(SCHEMA_PATH, "SCHEMA_PATH", "the path of the schema file")
    params_path: Path = setting(PARAMS_PATH, "PARAMS_PATH", "the path of params.yaml")
    profile_path: Path = setting(PROFILE_PATH, "PROFILE_PATH", "the path of the training profile")
    # Limits (limits.py, service.py): 1,000 records of a few dozen columns fit in well under 4 MiB.
    max_records: int = setting(1000, "MAX_RECORDS", f"{WHOLE} of records, at least 1", ge=1)
    max_body_bytes: int = setting(4 * 1024 * 1024, "MAX_BODY_BYTES", f"{WHOLE} of bytes, at least 1", ge=1)
    max_concurrency: int = setting(128, "MAX_CONCURRENCY", f"{WHOLE} of requests, at least 1", ge=1)
    request_timeout_s: float = setting(10.0, "REQUEST_TIMEOUT_S", f"{SECONDS}, more than 0", gt=0)
    ready_wait_s: float = setting(5.0, "READY_WAIT_S", f"{SECONDS}, 0 or more", ge=0)
    # Batching (batching.py): unset, a batch may hold every record of a full request (MAX_RECORDS).
    max_batch_rows: int | None = setting(None, "MAX_BATCH_ROWS", f"{WHOLE} of rows, at least 1", ge=1)
    max_batch_wait_ms: float = setting(20.0, "MAX_BATCH_WAIT_MS", "a number of milliseconds, 0 or more", ge=0)
    # 0: one worker per CPU the container may use (BentoML's "cpu_count" reads the cgroup limit).
    service_workers: int = setting(0, "SERVICE_WORKERS", f"{WHOLE} of workers, 0 for one per CPU", ge=0)
    access_log: bool = setting(False, "ACCESS_LOG", SWITCH)
    # The bearer token (serving/auth.py): the file of a mounted Secret wins over the variable.
    api_token: SecretStr | None = setting(None, "API_TOKEN", "any text")
    api_token_file: Path | None = setting(None, "API_TOKEN_FILE", "a readable file holding the token")
    # The model's metrics on /metrics (serving/instruments.py).
    model_metrics: bool = setting(True, "MODEL_METRICS", SWITCH)
    model_metrics_flush_s: float = setting(1.0, "MODEL_METRICS_FLUSH_S", f"{SECONDS}, more than 0", gt=0)
    # The prediction record (serving/record.py).
    prediction_record: str = setting("records", "PREDICTION_RECORD", "a folder, an fsspec URL or off")
    prediction_record_batch_rows: int = setting(
        5000, "PREDICTION_RECORD_BATCH_ROWS", f"{WHOLE} of rows, at least 1", ge=1
    )
    prediction_record_flush_s: float = setting(
        30.0, "PREDICTION_RECORD_FLUSH_S", f"{SECONDS}, more than 0", gt=0
    )
    prediction_record_max_queued: int = setting(
        50_000, "PREDICTION_RECORD_MAX_QUEUED", f"{WHOLE} of rows, at least 1", ge=1
    )

    @field_validator("api_token_file")
    @classmethod
    def _token_file_holds_a_token(cls, path: Path | None) -> Path | None:
        if path is not None and not _read_token(path):
            raise ValueError("the file is empty: refusing to serve without the token")
        return path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """The settings the variables of `environ` (default: this process's environment) give."""
        environ = os.environ if environ is None else environ
        given = {
            name: value
            for name in names()
            if (value := environ.get(name)) is not None and (value.strip() or name in BLANK_IS_A_VALUE)
        }
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            raise SettingsError(_lines(error, given)) from None

    @property
    def workers(self) -> int | str:
        return self.service_workers or "cpu_count"

    @property
    def batch_rows(self) -> int:
        return self.max_batch_rows or self.max_records

    @property
    def record_sink(self) -> str | None:
        """Where the prediction record goes; None when PREDICTION_RECORD turns it off."""
        sink = self.prediction_record.strip()
        return None if sink.lower() in RECORD_OFF else sink

    def bearer_token(self) -> bytes | None:
        """The token clients must present, or None (no check)."""
        if self.api_token_file is not None:
            return _read_token(self.api_token_file).encode()
        token = self.api_token.get_secret_value().strip() if self.api_token is not None else ""
        return token.encode() if token else None


def names() -> list[str]:
    """Every variable the settings read."""
    return [field.alias for field in ServingSettings.model_fields.values() if field.alias]


def _read_token(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()  # a Secret mounted from a file keeps its newline
    except OSError as error:
        raise ValueError(f"cannot be read: {error.strerror}") from None


def _lines(error: ValidationError, given: Mapping[str, str]) -> list[str]:
    """One line per bad variable (the first problem pydantic found with it)."""
    allowed = {field.alias: field.description for field in ServingSettings.model_fields.values()}
    lines: dict[str, str] = {}
    for problem in error.errors(include_url=False):
        name = str(problem["loc"][0]) if problem["loc"] else "<settings>"
        if name in lines:
            continue
        value = "<hidden>" if name in SECRET else repr(given.get(name))
        reason = problem["msg"].removeprefix("Value error, ")
        lines[name] = f"  {name}={value}: {reason[:1].lower()}{reason[1:]}; allowed: {allowed.get(name)}"
    return list(lines.values())


@functools.cache
def current() -> ServingSettings:
    """This process's settings, read once: the service's import, at start-up, is the first to ask.

    A bad value ends the process with the message (one line per bad variable), not a traceback.
    """
    try:
        return ServingSettings.from_environ()
    except SettingsError as error:
        raise SystemExit(str(error)) from None


def settle_collector() -> None:
    """Keep what is alive at start-up out of the garbage collector's passes, and collect the young
    generation every 20,000 allocations instead of 700. A worker calls it once its model is loaded.

    What is alive now (the model, the schema, the framework) lives as long as the worker. With Python's
    defaults, a collection stalled a worker and every request in flight on it for 80-170 ms about once a
    second at c=32 (p99 113 ms; with these settings 60-70 ms, docs/decisions.md). The benchmark's no-model
    ceiling calls it too, so that it measures the framework at its best.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)
