"""`make smoke`: serve a built bento on 127.0.0.1, check one prediction and one refusal, stop it, and find
the prediction in the record it wrote on SIGTERM (the bento ships what the record needs)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tools.processes import free_port, start, stop, wait_until

REQUEST_EXAMPLE = Path("reports/request_example.json")
RECORDS = Path("reports/smoke-records")


def post(url: str, payload: object) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - a loopback URL built above
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def smoke(bento: str, ready_within: float = 120.0) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = ["bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    shutil.rmtree(RECORDS, ignore_errors=True)
    env = {**os.environ, "PREDICTION_RECORD": str(RECORDS.resolve()), "PREDICTION_RECORD_FLUSH_S": "3600"}
    process = start(command, env=env)
    try:
        started = time.perf_counter()
        wait_until(lambda: ready(base), process, ready_within, interval=0.25, what="the service")
        print(f"smoke: {bento} ready in {time.perf_counter() - started:.1f} s")
        example = json.loads(REQUEST_EXAMPLE.read_text(encoding="utf-8"))
        status, body = post(f"{base}/predict", example)
        if status != 200 or len(body.get("predictions", [])) != len(example["records"]):
            raise RuntimeError(f"prediction failed: {status} {body}")
        print(f"smoke: POST /predict -> {status} {json.dumps(body)[:200]}")
        status, body = post(f"{base}/predict", {"records": [{"no_such_column": 1}]})
        if not 400 <= status < 500:
            raise RuntimeError(f"a bad request was answered {status}, not 4xx")
        print(f"smoke: bad request -> {status}")
    finally:
        stop(process, grace=30)
    import pyarrow.parquet as pq

    recorded = sum(pq.read_metadata(path).num_rows for path in RECORDS.glob("date=*/part-*.parquet"))
    if recorded != len(example["records"]):
        raise RuntimeError(f"the prediction record holds {recorded} records, not {len(example['records'])}")
    print(f"smoke: the prediction record holds the {recorded} records served, written on SIGTERM")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tools.smoke BENTO_TAG")
    smoke(sys.argv[1])
