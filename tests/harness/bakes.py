"""Baking the template and driving a bake: its make targets, a trained model, the rows a client sends, the
CSV a team would bring, and the monitoring experiments run inside a bake's environment."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cookiecutter.main import cookiecutter

from harness.tools import TEMPLATE, Result, check, run


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with `answers` over the defaults; return the project folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)))


STAGES = ("prepare", "validate", "train", "evaluate", "profile")


def stages_run(output: str) -> list[str]:
    """The pipeline stages `dvc repro` ran, from its output."""
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def make(project: Path, target: str, *variables: str, env: dict[str, str] | None = None) -> Result:
    return run(["make", "--no-print-directory", target, *variables], project, env)


def trained(project: Path, env: dict[str, str]) -> Path:
    """`make setup` (points the shared environment at this bake) and `make train` (a no-op once trained)."""
    for target in ("setup", "train"):
        check(make(project, target, env=env))
    return project


def _value(text: str) -> float | str | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def first_record(project: Path, target: str) -> dict:
    """One held-out row as a client would send it (the label dropped, missing values as null)."""
    with (project / "data/prepared/test.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    return {name: _value(text) for name, text in row.items() if name != target}


def write_team_csv(path: Path, task: str, target: str, rows: int = 400, seed: int = 11) -> None:
    """A learnable CSV like a team's: numeric and categorical columns, some missing values, a label.

    Classification gets a text label (yes/no); regression a numeric one.
    """
    import random

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tenure_months", "monthly_fee", "plan", "region", "support_calls", target])
        for _ in range(rows):
            tenure, fee, calls = rng.randint(1, 72), round(rng.uniform(10, 120), 2), rng.randint(0, 9)
            plan, region = (
                rng.choice(["basic", "standard", "premium"]),
                rng.choice(["north", "south", "east"]),
            )
            signal = 0.04 * calls + fee / 200 - tenure / 80 + (0.25 if plan == "basic" else 0.0)
            label = (
                ("yes" if signal + rng.gauss(0, 0.15) > 0.3 else "no")
                if task == "classification"
                else (round(100 * signal + rng.gauss(0, 5), 3))
            )
            missing_fee, missing_region = rng.random() < 0.05, rng.random() < 0.05
            writer.writerow(
                [tenure, "" if missing_fee else fee, plan, "" if missing_region else region, calls, label]
            )


# Monitoring experiments: tests/monitoring/experiments.py runs inside a baked project's environment.
EXPERIMENTS = Path(__file__).resolve().parents[1] / "monitoring" / "experiments.py"


def experiment(project: Path, env: dict[str, str], *args: str) -> dict:
    """Run tests/monitoring/experiments.py in the project's environment; the JSON it prints last."""
    result = run(["uv", "run", "--no-sync", "python", str(EXPERIMENTS), *args], project, env)
    check(result)
    return json.loads(result.output.strip().splitlines()[-1])


def exit_code(result: Result) -> int:
    """The recipe's exit code: make itself exits 2 whenever a recipe fails, and names the code it got."""
    if result.returncode == 0:
        return 0
    assert result.returncode == 2, str(result)
    return int(result.output.strip().splitlines()[-1].rsplit("Error ", 1)[1])


def one_line_error(result: Result, code: int, words: str) -> None:
    """Exit `code`, one line of our own naming the problem (make adds its own `***` line), no traceback."""
    ours = [line for line in result.output.splitlines() if line.strip() and not line.startswith("make")]
    assert exit_code(result) == code, str(result)
    assert len(ours) == 1, str(result)
    assert words in ours[0], str(result)
    assert "Traceback" not in result.output
