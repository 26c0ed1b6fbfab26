"""The generated service under real traffic on 127.0.0.1, in one trained default bake.

`make bench --quick` must meet the serving targets (the compiled service against the no-model ceiling, the
scikit-learn service and the alternatives); `make load` sends 20,000 valid and invalid requests;
schemathesis holds the service to its own OpenAPI document; /readyz is 503 until the model is loaded;
requests in flight when SIGTERM arrives are answered. Every server is started here and stopped by PID.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bakes import first_record, make
from harness.processes import free_port, serving, started
from harness.tools import check, run

pytestmark = pytest.mark.lifecycle
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def project(trained_bake) -> Path:
    return trained_bake("default", own=True)


def scripts(env: dict[str, str]) -> Path:
    return Path(env["UV_PROJECT_ENVIRONMENT"]) / "bin"


def package(project: Path) -> str:
    return project.name.replace("-", "_")  # the default answers derive the package from the slug


@pytest.mark.timing
def test_benchmark_meets_the_serving_targets(project, shared_env):
    """Every target met. A quick run measures each cell for seconds on a shared 2-core machine, so a noisy
    moment can cost a run a p99 or a ratio (docs/decisions.md): when a run misses, `--again` measures the
    servers of the missed targets again, up to three runs in all, and each target must be met by one
    measurement of its own servers. Goals (absolute latencies, the 100-record multiple) are reported beside
    the no-model ceiling's own figure and do not fail the run."""

    def missed_targets(bench: dict) -> list[str]:
        return sorted(name for name, c in bench["targets"].items() if not c["met"] and not c.get("goal"))

    result = make(project, "bench", "BENCH_ARGS=--quick", env=shared_env)
    for number in (2, 3):
        bench = json.loads((project / "reports/bench.json").read_text())
        missed = missed_targets(bench)
        if not missed:
            break
        warnings.warn(
            f"make bench run {number - 1} missed {missed}; measuring their servers again", stacklevel=1
        )
        result = make(project, "bench", "BENCH_ARGS=--quick --again", env=shared_env)
        again = json.loads((project / "reports/bench.json").read_text())
        assert again["run"] == number
        assert {name for name, s in again["servers"].items() if s["run"] == number} == {
            server for name in missed for server in bench["targets"][name]["servers"]
        }  # only the servers of the missed targets were measured again
    bench = json.loads((project / "reports/bench.json").read_text())
    missed = {name: bench["targets"][name] for name in missed_targets(bench)}
    assert not missed, f"targets missed: {missed}\n{result.output[-4000:]}"
    assert set(bench["servers"]) == {
        "service",
        "service-off",
        "service-sklearn",
        "ceiling",
        "fastapi",
        "mlflow",
    }
    # Every target the serving issues name is measured in the run (none left out of the report).
    assert {
        "1-record, c=32: service / ceiling (no model)",
        "1-record, c=32: service p99 ms",
        "1-record, c=1: service p50 ms",
        "100-record, c=8: service rows/s / service-sklearn rows/s",
        "1-record, c=32: service / service without metrics and record",
    } <= set(bench["targets"])
    goals = {name: c for name, c in bench["targets"].items() if c.get("goal")}
    assert set(goals) == {
        "1-record, c=32: service p99 ms",
        "1-record, c=1: service p50 ms",
        "100-record, c=8: service rows/s / service-sklearn rows/s",
    }
    for name, goal in goals.items():
        bound = goal.get("at_least", goal.get("below"))
        assert goal["met"] == (goal["value"] >= bound if "at_least" in goal else goal["value"] < bound), name
        assert f"{name}: {goal['value']} (goal " in result.output, name
        assert f"no-model ceiling {goal['ceiling']}" in result.output, name
    assert result.returncode == 0, str(result)


# A run's targets after `make bench --again` measured the servers of the one target it missed.
BENCH_AGAIN = """
import json
from bench.__main__ import MEASURED_ON, again

def check(value, met, goal=False):
    return {"value": value, "met": met} | ({"goal": True} if goal else {})

missed, met, goal, other_goal = (
    "1-record, c=32: service / service without metrics and record",
    "1-record, c=32: service / ceiling (no model)",
    "1-record, c=32: service p99 ms",
    "100-record, c=8: service rows/s / service-sklearn rows/s",
)
previous = {"targets": {missed: check(0.8, False), met: check(0.9, True),
                        goal: check(20, False, True), other_goal: check(2.0, False, True)}}
fresh = {missed: check(0.95, True), met: check(0.7, False),
         goal: check(12, True, True), other_goal: check(3.5, True, True)}
measured = set(MEASURED_ON[missed])
print(json.dumps({"measured": sorted(measured), "checks": again(previous, fresh, measured, run=2)}))
"""


def test_bench_again_takes_new_figures_only_for_what_it_measured_again(project, shared_env):
    """The missed target takes the new run's value; the met one keeps its own although one of its servers
    was measured again (a value never mixes runs); a goal takes the new value only when all its servers
    were measured. Asking for servers by name beside --again is refused."""
    python = str(scripts(shared_env) / "python")
    result = check(run([python, "-c", BENCH_AGAIN], project, shared_env))
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["measured"] == ["service", "service-off"]
    checks = out["checks"]
    assert checks["1-record, c=32: service / service without metrics and record"] == {
        "value": 0.95, "met": True, "run": 2,
    }  # fmt: skip
    assert checks["1-record, c=32: service / ceiling (no model)"] == {"value": 0.9, "met": True, "run": 1}
    assert checks["1-record, c=32: service p99 ms"]["run"] == 1  # the ceiling was not measured again
    assert checks["100-record, c=8: service rows/s / service-sklearn rows/s"]["value"] == 2.0
    refused = run([python, "-m", "bench", "--again", "--only", "service"], project, shared_env)
    assert refused.returncode == 2
    assert "--again chooses the servers itself" in refused.output


def test_20000_valid_and_invalid_requests_break_nothing(project, shared_env):
    result = make(project, "load", env=shared_env)
    print(result.output[-2000:])
    load = json.loads((project / "reports/load.json").read_text())
    assert load["requests"] >= 20_000
    assert not [status for status in load["statuses"] if status.startswith("5")], load["statuses"]
    assert load["dropped"] == 0
    assert load["by_kind"]["valid, 1 record"] == {"200": load["by_kind"]["valid, 1 record"]["200"]}
    assert load["by_kind"]["body over the limit"].keys() == {"413"}
    assert load["problems"] == []
    # The prediction record (sample rate 1) holds every valid record served, written by SIGTERM at the latest.
    assert load["records_in_record"] == load["records_served"] > 20_000 * 0.5
    check(result)


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(project, shared_env, tmp_path):
    with serving(project, env=shared_env) as base:
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file", str(SCHEMATHESIS_CONFIG),
            "run", f"{base}/docs.json",
            "--checks", "all",
            "--max-examples", "40",
            "--max-time", "60",
            "--seed", "20261123",
            "--report", "junit", "--report-dir", str(tmp_path),
        ]  # fmt: skip
        # Run from tmp_path: schemathesis keeps its example cache in ./.schemathesis of its working folder.
        result = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    print(summary)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "generated" in summary


@contextlib.contextmanager
def bentoml_serve(project: Path, env: dict[str, str], **extra: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`bentoml serve` itself (no make in between, as PID 1 in a container) on a free loopback port; yields
    at once (the tests poll /readyz themselves)."""
    port = free_port()
    command = [
        str(scripts(env) / "bentoml"), "serve", f"{package(project)}.service:PredictionService",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    server_env = {**env, "BENTOML_DO_NOT_TRACK": "true", **extra}
    log = project / "bentoml-serve.log"
    with started("bentoml serve", command, log, None, cwd=project, env=server_env) as server:
        yield server.process, f"127.0.0.1:{port}"


def status_of(url: str, body: bytes | None = None, timeout: float = 30) -> int | None:
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def readyz(host: str, process: subprocess.Popen, until: set[int], within: float = 90) -> int:
    """Poll /readyz until it answers one of `until`; fail if the server exits or time runs out."""
    deadline = time.monotonic() + within
    while (status := status_of(f"http://{host}/readyz", timeout=2)) not in until:
        assert process.poll() is None, f"the service exited with {process.returncode}"
        assert time.monotonic() < deadline, f"/readyz answered {status}, not {until}, within {within} s"
        time.sleep(0.1)
    return status


def test_readyz_is_503_until_the_model_is_loaded(project, shared_env, tmp_path):
    """The model arrives through a named pipe the test fills: until then the worker is up but not ready.

    READY_WAIT_S is raised from its 5 s: skops is imported only once the model's bytes are read, and on a
    busy 2-core machine that load took longer than 5 s (the 503 after the wait is test_service.py's)."""
    pipe = tmp_path / "model.skops"
    os.mkfifo(pipe)
    settings = {"MODEL_PATH": str(pipe), "SERVICE_WORKERS": "1", "READY_WAIT_S": "120"}
    with bentoml_serve(project, shared_env, **settings) as (process, host):
        assert readyz(host, process, until={200, 503}) == 503
        assert status_of(f"http://{host}/livez") == 200  # alive, only not ready
        body = json.dumps({"records": [first_record(project, "target")]}).encode()
        answered: list[int | None] = []

        def predict() -> None:
            answered.append(status_of(f"http://{host}/predict", body, timeout=150))

        waiting = threading.Thread(target=predict)
        waiting.start()  # a prediction sent while the model loads waits for it
        time.sleep(0.3)
        pipe.write_bytes((project / "models/model.skops").read_bytes())
        waiting.join(timeout=150)
        assert answered == [200]
        assert status_of(f"http://{host}/readyz") == 200


def test_requests_in_flight_at_sigterm_are_answered(project, shared_env):
    record = first_record(project, "target")
    body = json.dumps({"records": [record] * 300})
    with bentoml_serve(project, shared_env) as (process, host):
        readyz(host, process, until={200})
        connections = [http.client.HTTPConnection(host, timeout=60) for _ in range(32)]
        for connection in connections:  # each connection accepted by a worker and kept alive
            connection.request("GET", "/livez")
            connection.getresponse().read()
        for connection in connections:  # 32 requests sent, none answered yet
            connection.request("POST", "/predict", body, {"content-type": "application/json"})
        time.sleep(0.2)  # the workers have them: they are in flight
        os.kill(process.pid, signal.SIGTERM)  # to the server's main process only, as Kubernetes does
        statuses = [connection.getresponse().status for connection in connections]
        assert statuses == [200] * 32
        assert process.wait(timeout=60) == 0


def test_over_http_the_api_needs_the_bearer_token_from_a_secret_file_and_probes_and_metrics_do_not(
    project, shared_env, tmp_path
):
    """`make serve` with API_TOKEN_FILE (how the production overlay mounts its Secret): a prediction
    without the token or with a wrong one is 401, with it 200; /livez, /readyz and /metrics answer 200."""
    secret = tmp_path / "token"
    secret.write_text("a-long-random-token\n")
    body = json.dumps({"records": [first_record(project, "target")]}).encode()

    def predict(base: str, authorization: str | None) -> int:
        headers = {"content-type": "application/json"} | (
            {"authorization": authorization} if authorization else {}
        )
        request = urllib.request.Request(f"{base}/predict", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    # One worker: with two, `serving` returns once either answers /readyz, and the /readyz below may reach
    # the other while it still loads its model (503, as it should; seen once on a busy machine).
    env = {**shared_env, "API_TOKEN_FILE": str(secret), "SERVICE_WORKERS": "1"}
    with serving(project, env) as base:
        assert predict(base, None) == 401
        assert predict(base, "Bearer a-wrong-token") == 401
        assert predict(base, "Bearer a-long-random-token") == 200
        assert {path: status_of(f"{base}{path}") for path in ("/livez", "/readyz", "/metrics")} == {
            "/livez": 200, "/readyz": 200, "/metrics": 200,
        }  # fmt: skip
    # Off by default: the same service without API_TOKEN / API_TOKEN_FILE answers without a token.
    with serving(project, shared_env) as base:
        assert predict(base, None) == 200
