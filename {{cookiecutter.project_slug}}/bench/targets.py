"""The servers the benchmark and the load test start, time and stop, and the payloads they send."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }}.predict import COLUMNS

from tools.processes import ServerExitedError, free_port, start, stop, wait_until

HOST = "127.0.0.1"
HELD_OUT = Path("data/prepared/test.csv")
RUN_RECORD = Path("models/run.json")
RECORDS = Path("reports/records")  # the prediction record of the services started here
# The service with its model metrics and its prediction record off: the bench row that shows what
# observing costs.
OBSERVING_OFF = {"MODEL_METRICS": "0", "PREDICTION_RECORD": "off"}
# The scikit-learn pipeline instead of its compiled twin (models/compiled/model.onnx).
SKLEARN = {"MODEL_RUNTIME": "sklearn"}


def cores() -> int:
    return len(os.sched_getaffinity(0))


def held_out_records() -> list[dict]:
    """The held-out rows as a client sends them: the schema's features, missing values as null."""
    frame = pd.read_csv(HELD_OUT)[COLUMNS]
    return json.loads(frame.to_json(orient="records"))


@dataclass
class Server:
    """One way of serving the model: how to start it and how its requests look."""

    name: str
    command: list[str]
    path: str  # where predictions are posted
    wrap: str  # the key the records go under in the body
    env: dict[str, str] = field(default_factory=dict)

    def body(self, records: list[dict]) -> bytes:
        return json.dumps({self.wrap: records}).encode()


def servers(workers: int, records: Path = RECORDS) -> list[Server]:
    """Each with `workers` processes, on the same model: the service as deployed (the compiled model,
    metrics on, recording to `records`), again with metrics and record off, again on the scikit-learn
    model; the ceiling (the same typed request in BentoML, no model); and two alternatives a team would
    write or use, on the scikit-learn model: a plain FastAPI app and `mlflow models serve`."""
    python = sys.executable
    # `mlflow models serve` runs `uvicorn` from PATH: put this environment's scripts first.
    scripts = str(Path(python).parent)
    quiet = {
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    bentoml_serve = [python, "-m", "bentoml", "serve"]
    service = Server(
        "service",
        [*bentoml_serve, "{{ cookiecutter.package_name }}.service:PredictionService"],
        "/predict",
        "records",
        {**quiet, "SERVICE_WORKERS": str(workers), "PREDICTION_RECORD": str(records)},
    )
    unobserved = Server(
        "service-off", service.command, service.path, service.wrap, {**service.env, **OBSERVING_OFF}
    )
    sklearn = Server(
        "service-sklearn", service.command, service.path, service.wrap, {**service.env, **SKLEARN}
    )
    ceiling = Server(
        "ceiling",
        [*bentoml_serve, "bench.ceiling:Ceiling"],
        "/predict",
        "records",
        {**quiet, "SERVICE_WORKERS": str(workers)},
    )
    fastapi = Server(
        "fastapi",
        [python, "-m", "uvicorn", "bench.fastapi_app:app", "--workers", str(workers), "--no-access-log"],
        "/predict",
        "records",
        {**quiet, **SKLEARN},
    )
    run = json.loads(RUN_RECORD.read_text(encoding="utf-8"))
    mlflow = Server(
        "mlflow",
        [
            python,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            run["model_uri"],
            "--env-manager",
            "local",
            "--workers",
            str(workers),
        ],
        "/invocations",
        "dataframe_records",
        {**quiet, "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI") or run["tracking_uri"]},
    )
    return [service, unobserved, sklearn, ceiling, fastapi, mlflow]


def post(url: str, body: bytes, timeout: float = 10) -> int:
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@dataclass
class Running:
    server: Server
    port: int
    process: subprocess.Popen
    cold_start_s: float

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.server.path}"


@contextlib.contextmanager
def started(server: Server, probe: list[dict], ready_within: float = 120) -> Iterator[Running]:
    """Start `server` on a free loopback port; the cold start ends at its first successful prediction.

    It runs in its own session and the whole process group is stopped at the end (gracefully first).
    """
    port = free_port()
    command = [*server.command, "--host", HOST, "--port", str(port)]
    log = Path("reports/bench-logs", f"{server.name}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    begun = time.perf_counter()
    with log.open("w") as sink:
        process = start(command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **server.env})
    try:
        url, body = f"http://{HOST}:{port}{server.path}", server.body(probe)
        try:
            wait_until(lambda: post_quietly(url, body) == 200, process, ready_within, what=server.name)
        except (ServerExitedError, TimeoutError) as error:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(
                f"{server.name} did not answer within {ready_within:.0f} s:\n{tail}"
            ) from error
        yield Running(server, port, process, time.perf_counter() - begun)
    finally:
        stop(process)


def post_quietly(url: str, body: bytes) -> int | None:
    try:
        return post(url, body, timeout=5)
    except OSError:
        return None


def recorded(records: Path, request_id: str) -> int:
    """How many rows of requests with this X-Request-Id the prediction record holds in `records`."""
    import pyarrow.parquet as pq

    return sum(
        pq.read_table(path, columns=["request_id"])["request_id"].to_pylist().count(request_id)
        for path in records.glob("date=*/part-*.parquet")
    )


def process_tree(pid: int) -> list:
    """The psutil processes of `pid` and all its descendants; none when it has exited."""
    import psutil

    try:
        return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def connections_per_worker(process: subprocess.Popen, port: int, workers: int) -> list[int]:
    """The client connections to `port` each of a server's `workers` processes holds, fewest first."""
    import psutil

    held: dict[int, int] = {}
    for member in process_tree(process.pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            count = sum(
                1
                for connection in member.net_connections(kind="tcp")
                if connection.status == psutil.CONN_ESTABLISHED and connection.laddr.port == port
            )
            if count:
                held[member.pid] = count
    return sorted([*held.values(), *[0] * (workers - len(held))])


def memory(process: subprocess.Popen) -> dict[str, float]:
    """Resident and peak resident memory (MiB) of a server and all its processes, from /proc."""
    import psutil

    rss = peak = 0
    for member in process_tree(process.pid):
        with contextlib.suppress(psutil.NoSuchProcess, FileNotFoundError):
            rss += member.memory_info().rss
            status = Path(f"/proc/{member.pid}/status").read_text()
            peak += next(
                int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM")
            )
    return {"rss_mib": round(rss / 2**20, 1), "peak_rss_mib": round(peak / 2**20, 1)}
