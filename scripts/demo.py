"""Bake the defaults and run the generated project's local lifecycle, printing one prediction.

Usage: python scripts/demo.py [OUTPUT_DIR]   (default build/demo; an existing bake there is replaced)

Self-contained on purpose (cookiecutter and the standard library): a reader sees every step the demo takes,
and a change to the template's tests cannot break `make demo`.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]


def step(project: Path, target: str) -> None:
    """`make <target>` and the end of its output; stop the demo when it fails."""
    print(f"\n==> make {target}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    print(done.stdout[-3000:])
    if done.returncode != 0:
        sys.exit(f"make {target} failed after {seconds:.1f} s")
    print(f"<== make {target}: {seconds:.1f} s", flush=True)


def held_out_record(project: Path) -> dict:
    """The first row of the held-out split as a client sends it: the label dropped, missing values as null."""
    with (project / "data/prepared/test.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    row.pop("target")
    return {name: value(text) for name, text in row.items()}


def value(text: str) -> float | str | None:
    try:
        return float(text) if text else None
    except ValueError:
        return text


def predict_once(project: Path, record: dict, within: float = 90) -> tuple[int, dict]:
    """`make serve` on a free loopback port, one POST /predict once /readyz answers, then the server's whole
    process group stopped (BentoML forks workers)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with (project / "serve.log").open("w") as log:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "serve", f"PORT={port}"],
            cwd=project,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + within
        while not ready(f"{base}/readyz"):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the service did not become ready within {within} s: see {project / 'serve.log'}")
            time.sleep(0.2)
        body = json.dumps({"records": [record]}).encode()
        request = urllib.request.Request(f"{base}/predict", body, {"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def main(output: Path) -> None:
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    output.mkdir(parents=True)
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output)))
    print(f"baked {project} in {time.perf_counter() - started:.1f} s")
    for target in ("setup", "train", "gate", "test"):
        step(project, target)
    record = held_out_record(project)
    print("\n==> make serve, then POST /predict with one held-out record", flush=True)
    status, body = predict_once(project, record)
    print(f"request: {json.dumps({'records': [record]})[:200]}...")
    print(f"answer ({status}): {json.dumps(body)}")
    if status != 200:
        sys.exit("the service did not answer the prediction")
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s; the project is in {project}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/demo"))
