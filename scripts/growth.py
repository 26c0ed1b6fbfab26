"""How the pipeline's cost grows with the data: prepare, validate, train, evaluate at several sizes.

For each size, a csv bake (default model) gets a generated CSV with 30 mixed columns (write_wide_csv)
and runs each stage's command once, in pipeline order; the time and the peak resident memory of each
stage are measured and printed as a Markdown table (the README's "How the cost grows"), and written as JSON.

Usage: python scripts/growth.py [--rows 10000 100000 1000000] [--out build/growth]
The template's CI runs the small sizes (tests/test_growth.py); the 1,000,000-row figures come from a manual
run of this command.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]

STAGES = ("prepare", "validate", "train", "evaluate")
# Runs a command and prints its peak resident memory in KiB (the largest process it waited for) and the
# CPU seconds it used (user and system, its threads included): on a shared machine, steadier than time.
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "used = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print('peak-kib', used.ru_maxrss, 'cpu-s', used.ru_utime + used.ru_stime); sys.exit(code)"
)


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> tuple[str, float]:
    """Run a command over this environment plus `env`; its output and seconds. Stops on a failure."""
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"$ {' '.join(command)}  (exit {done.returncode})\n{done.stdout[-6000:]}")
    return done.stdout, time.perf_counter() - started


def measure(rows: int, folder: Path, env: dict[str, str], stages: tuple[str, ...] = STAGES) -> dict:
    (folder / str(rows)).mkdir(parents=True, exist_ok=True)
    answers = {"dataset": "csv", "target_column": "label", "project_name": "Growth"}
    project = Path(
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(folder / str(rows)))
    )
    data = project / "data/raw/data.csv"
    write_wide_csv(data, rows)
    run(["make", "--no-print-directory", "setup"], project, env)
    package = project.name.replace("-", "_")
    python = str(Path(env["UV_PROJECT_ENVIRONMENT"]) / "bin/python")
    result = {"rows": rows, "csv_mib": round(data.stat().st_size / 2**20, 1), "stages": {}}
    for stage in stages:
        command = [python, "-c", PEAK, python, "-m", f"{package}.stages.{stage}"]
        output, seconds = run(command, project, env, timeout=7200)
        measured = output.rsplit("peak-kib", 1)[1].split()
        peak, cpu = int(measured[0]) / 1024, float(measured[2])
        result["stages"][stage] = {
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "peak_mib": round(peak),
        }
        print(f"{rows:>9,} rows  {stage:<9} {seconds:7.1f} s  {cpu:7.1f} s CPU  {peak:7.0f} MiB", flush=True)
    return result


def write_wide_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A CSV of `rows` rows with 30 mixed feature columns and a yes/no `label` (for measuring growth).

    20 numeric columns (14 decimal, 6 whole numbers; three with about 2% missing values) and 10 categorical
    ones (3 to 12 levels; two with missing values); the label depends on a few of them plus noise.
    """
    rng = random.Random(seed)
    levels = [[f"l{index}_{level}" for level in range(3 + index)] for index in range(10)]
    header = [f"x{i}" for i in range(14)] + [f"n{i}" for i in range(6)] + [f"c{i}" for i in range(10)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "label"])
        for _ in range(rows):
            decimals = [round(rng.gauss(50, 15), 3) for _ in range(14)]
            counts = [rng.randint(0, 100) for _ in range(6)]
            categories = [rng.choice(options) for options in levels]
            signal = decimals[0] / 50 - counts[0] / 100 + (0.5 if categories[0].endswith("_0") else 0.0)
            label = "yes" if signal + rng.gauss(0, 0.3) > 0.9 else "no"
            for index in (1, 2, 3):
                if rng.random() < 0.02:
                    decimals[index] = ""
            for index in (8, 9):
                if rng.random() < 0.02:
                    categories[index] = ""
            writer.writerow([*decimals, *counts, *categories, label])


def table(results: list[dict]) -> str:
    lines = [
        "| rows | CSV | " + " | ".join(STAGES) + " |",
        "|---:|---:|" + "---:|" * len(STAGES),
    ]
    for result in results:
        measured = [result["stages"].get(stage) for stage in STAGES]
        cells = [
            f"{cell['seconds']} s ({cell['cpu_seconds']} s CPU), {cell['peak_mib']} MiB"
            if cell
            else "not run"
            for cell in measured
        ]
        lines.append(f"| {result['rows']:,} | {result['csv_mib']} MiB | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=Path("build/growth"))
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    args = parser.parse_args()
    env = {
        "UV_PROJECT_ENVIRONMENT": str((args.out / "venv").resolve()),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_COMPILE_BYTECODE": os.environ.get("UV_COMPILE_BYTECODE", "1"),
    }
    results = [measure(rows, args.out.resolve(), env, tuple(args.stages)) for rows in args.rows]
    (args.out / "growth.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
