"""Baking the template and driving a bake: its make targets, a trained model (and the store of trained
bakes that workers copy), the rows a client sends, the CSV a team would bring, and the monitoring
experiments run inside a bake's environment."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
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


def template_digest(*extra: str) -> str:
    """A digest of what a bake is made of: the template's files (cookiecutter.json, the hooks, the project
    folder) and `extra` (the answers, say). Another commit, an edit or other answers give another digest."""
    digest = hashlib.sha256("\0".join(extra).encode())
    parts = [TEMPLATE / "cookiecutter.json", TEMPLATE / "hooks", TEMPLATE / "{{cookiecutter.project_slug}}"]
    for path in sorted(p for part in parts for p in ([part] if part.is_file() else part.rglob("*"))):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(TEMPLATE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created), held across processes (the workers) until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def relocate(project: Path, origin: Path) -> None:
    """A bake copied from `origin`: each absolute path to `origin` in MLflow's store (the database's
    artifact locations and model sources, the MLmodel files under mlruns/) now names `project`. The
    pipeline's outputs are left as they are: models/run.json names the tracking URI it was trained with,
    for the record only, and rewriting it would make DVC run the stages again."""
    old, new = str(origin), str(project)
    database = project / "mlflow.db"
    if database.exists():
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for column in [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]:
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                        (old, new, old),
                    )
    for path in (project / "mlruns").rglob("*"):
        if path.is_file() and not path.is_symlink() and old.encode() in (data := path.read_bytes()):
            path.write_bytes(data.replace(old.encode(), new.encode()))


def trained_copy(store: Path, dest: Path, env: dict[str, str], make_one: Callable[[Path], Path]) -> Path:
    """A trained bake in `dest`, copied from the one in `store`, which `make_one(store)` bakes and trains
    (returning its project folder) on first use; workers that need it meanwhile wait on a lock. Then `make
    setup` points `env` at the copy, and `make train` checks that nothing is left to run."""
    with locked(store.with_name(store.name + ".lock")):
        record = store / "project.txt"
        if not record.exists():
            shutil.rmtree(store, ignore_errors=True)  # a run that stopped half-way
            project = trained(make_one(store), env)
            record.write_text(str(project))
        origin = Path(record.read_text())
        copy = dest / origin.name
        shutil.copytree(origin, copy, symlinks=True)
    relocate(copy, origin)
    check(make(copy, "setup", env=env))
    again = make(copy, "train", env=env)
    check(again)
    assert stages_run(again.output) == [], f"the copied bake reran stages:\n{again}"
    return copy


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
