"""How the pipeline's cost grows with the data: prepare, validate, train, evaluate at several sizes.

For each size, a csv bake (default model) gets a generated CSV with 30 mixed columns (support.write_wide_csv)
and runs each stage's command once, in pipeline order; the time and the peak resident memory of each
stage are measured and printed as a Markdown table (the README's "How the cost grows"), and written as JSON.

Usage: python scripts/growth.py [--rows 10000 100000 1000000] [--out build/growth]
The template's CI runs the small sizes (tests/test_growth.py); the 1,000,000-row figures come from a manual
run of this command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import bake, check, make, run, write_wide_csv

STAGES = ("prepare", "validate", "train", "evaluate")
# Runs a command and prints its peak resident memory in KiB (the largest process it waited for).
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print('peak-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def measure(rows: int, folder: Path, env: dict[str, str], stages: tuple[str, ...] = STAGES) -> dict:
    project = bake(folder / str(rows), dataset="csv", target_column="label", project_name="Growth")
    csv = project / "data/raw/data.csv"
    write_wide_csv(csv, rows)
    check(make(project, "setup", env=env))
    package = project.name.replace("-", "_")
    python = str(Path(env["UV_PROJECT_ENVIRONMENT"]) / "bin/python")
    result = {"rows": rows, "csv_mib": round(csv.stat().st_size / 2**20, 1), "stages": {}}
    for stage in stages:
        command = [python, "-c", PEAK, python, "-m", f"{package}.stages.{stage}"]
        done = run(command, project, env, timeout=7200)
        check(done)
        peak = int(done.output.rsplit("peak-kib", 1)[1].split()[0]) / 1024
        result["stages"][stage] = {"seconds": round(done.seconds, 1), "peak_mib": round(peak)}
        print(f"{rows:>9,} rows  {stage:<9} {done.seconds:7.1f} s  {peak:7.0f} MiB", flush=True)
    return result


def table(results: list[dict]) -> str:
    lines = [
        "| rows | CSV | " + " | ".join(STAGES) + " |",
        "|---:|---:|" + "---:|" * len(STAGES),
    ]
    for result in results:
        measured = [result["stages"].get(stage) for stage in STAGES]
        cells = [f"{cell['seconds']} s, {cell['peak_mib']} MiB" if cell else "not run" for cell in measured]
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
