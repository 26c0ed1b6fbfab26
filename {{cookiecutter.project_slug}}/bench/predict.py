"""`make bench-predict`: `make predict` on a large file against one in-process pass over the same file.

Target: the time of `make predict` on ROWS rows minus its time on 10 rows (start-up, imports, model load)
is at most 1.25x one in-process pass (read the CSV with pyarrow, conform, predict, write the predictions
with pyarrow; the model loaded beforehand), and its peak memory stays under 1.5 GiB. The in-process pass
is measured before and after the commands and the faster one counts. The input is the prepared data
resampled with a little noise, written under build/ (not committed). Writes reports/bench-predict.json;
exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from {{ cookiecutter.package_name }}.data import TEST_PATH, TRAIN_PATH
from {{ cookiecutter.package_name }}.model import load_model
from {{ cookiecutter.package_name }}.schema import Schema, conform
from {{ cookiecutter.package_name }}.scoring import predictions

from .targets import process_tree

WORK = Path("build/bench-predict")
OUT = Path("reports/bench-predict.json")
RATIO_TARGET = 1.25
MEMORY_TARGET = 1.5 * 2**30


def make_input(rows: int, path: Path, schema: Schema, seed: int = 0) -> Path:
    """`rows` rows like the prepared data (numbers jittered by up to 2%), with an `id` column."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    source = pd.concat([pd.read_csv(TRAIN_PATH), pd.read_csv(TEST_PATH)], ignore_index=True)
    picked = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    columns = {"id": np.arange(rows)}
    for column in schema.features:
        values = picked[column.name]
        if column.kind == "number":
            values = values * rng.uniform(0.98, 1.02, rows)
        columns[column.name] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False), path)
    return path


def timed(command: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak resident memory (bytes, the whole process tree) and CPU seconds of a command.

    CPU seconds are steadier than wall time on a machine shared with other work; both are reported."""
    import psutil

    cpu = _children_cpu()
    began = time.perf_counter()
    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            peak = max(peak, sum(part.memory_info().rss for part in process_tree(process.pid)))
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    if process.returncode:
        sys.exit(f"bench-predict: {' '.join(command)} exited with {process.returncode}")
    return seconds, peak, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_process(path: Path, output: Path, schema: Schema, model) -> dict[str, float]:
    began, cpu = time.perf_counter(), time.process_time()
    table = pacsv.read_csv(path)
    read = time.perf_counter()
    columns = predictions(model, conform(table.to_pandas(), schema))
    predicted = time.perf_counter()
    pacsv.write_csv(pa.table({"id": table["id"], **columns}), output)
    written = time.perf_counter()
    total = written - began
    return {
        "read": read - began,
        "predict": predicted - read,
        "write": written - predicted,
        "total": total,
        "cpu": time.process_time() - cpu,
    }


def predict_command(source: Path, output: Path, chunk: str) -> list[str]:
    command = ["make", "--no-print-directory", "predict", f"INPUT={source}", f"OUTPUT={output}", "ID=id"]
    return command + ([f"CHUNK={chunk}"] if chunk else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", default="", help="CHUNK for make predict (default: its own)")
    args = parser.parse_args(argv)
    schema = Schema.load()
    big = make_input(args.rows, WORK / f"input-{args.rows}.csv", schema)
    small = WORK / "input-10.csv"
    small.write_text(_head(big, 11))
    model = load_model()
    first = in_process(big, WORK / "in-process.csv", schema, model)
    big_seconds, big_peak, big_cpu = timed(predict_command(big, WORK / "predicted.csv", args.chunk))
    small_seconds, _, small_cpu = timed(predict_command(small, WORK / "predicted-10.csv", args.chunk))
    second = in_process(big, WORK / "in-process.csv", schema, model)
    best = min(first, second, key=lambda run: run["total"])
    ratio = (big_seconds - small_seconds) / best["total"]
    result = {
        "rows": args.rows,
        "input_bytes": big.stat().st_size,
        "make_predict_seconds": round(big_seconds, 2),
        "make_predict_10_rows_seconds": round(small_seconds, 2),
        "in_process_seconds": {key: round(value, 2) for key, value in best.items()},
        "in_process_runs": [round(first["total"], 2), round(second["total"], 2)],
        "ratio": round(ratio, 3),
        "make_predict_cpu_seconds": [round(big_cpu, 2), round(small_cpu, 2)],
        "cpu_ratio": round((big_cpu - small_cpu) / min(first["cpu"], second["cpu"]), 3),
        "peak_memory_mib": round(big_peak / 2**20),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    missed = []
    if ratio > RATIO_TARGET:
        missed.append(f"(make predict - start-up) / in-process = {ratio:.2f} > {RATIO_TARGET}")
    if big_peak > MEMORY_TARGET:
        missed.append(f"peak memory {big_peak / 2**30:.2f} GiB > {MEMORY_TARGET / 2**30} GiB")
    for line in missed:
        print(f"bench-predict: target missed: {line}")
    return 1 if missed else 0


def _head(path: Path, lines: int) -> str:
    with path.open() as handle:
        return "".join(next(handle) for _ in range(lines))


if __name__ == "__main__":
    sys.exit(main())
