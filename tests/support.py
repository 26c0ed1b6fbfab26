"""Helpers shared by the template's tests and `make demo`: bake, run make targets, serve and ask."""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with `answers` over the defaults; return the project folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)))


@dataclass
class Result:
    command: str
    returncode: int
    output: str
    seconds: float

    def __str__(self) -> str:
        return f"$ {self.command}  (exit {self.returncode}, {self.seconds:.1f} s)\n{self.output[-6000:]}"


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900) -> Result:
    """Run a command, capturing stdout and stderr together (the order a person would see)."""
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(" ".join(command), completed.returncode, completed.stdout, time.perf_counter() - started)


def check(result: Result) -> None:
    assert result.returncode == 0, str(result)


STAGES = ("prepare", "validate", "train", "evaluate", "profile")


def stages_run(output: str) -> list[str]:
    """The pipeline stages `dvc repro` ran, from its output."""
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def make(project: Path, target: str, *variables: str, env: dict[str, str] | None = None) -> Result:
    return run(["make", "--no-print-directory", target, *variables], project, env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post_json(url: str, payload: object, timeout: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def stop_group(process: subprocess.Popen, first: signal.Signals = signal.SIGTERM) -> None:
    """Signal the process group (servers fork workers), SIGKILL it if it is still there after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def trained(project: Path, env: dict[str, str]) -> Path:
    """`make setup` (points the shared environment at this bake) and `make train` (a no-op once trained)."""
    for target in ("setup", "train"):
        check(make(project, target, env=env))
    return project


def ruff_findings(project: Path) -> str:
    """What `ruff check` and `ruff format --check` report in a bake, with its own config ('' when clean)."""
    ruff = [sys.executable, "-m", "ruff"]
    reports = []
    for command in ([*ruff, "check", "--no-cache", "."], [*ruff, "format", "--check", "--no-cache", "."]):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        if result.returncode:
            reports.append(result.stdout + result.stderr)
    return "\n".join(reports)


@contextlib.contextmanager
def serving(project: Path, env: dict[str, str] | None = None, ready_within: float = 90) -> Iterator[str]:
    """`make serve` on a free loopback port, in its own process group; yields the base URL."""
    port = free_port()
    log = project / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "serve", f"PORT={port}"],
            cwd=project,
            env={**os.environ, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"make serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"service not ready within {ready_within} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield base
    finally:
        stop_group(process)


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


def uv_available() -> bool:
    return shutil.which("uv") is not None


def find_python(version: str) -> str | None:
    """An interpreter for `version` (e.g. "3.12") that uv can use without downloading one."""
    found = run(["uv", "python", "find", "--no-python-downloads", version], Path.cwd())
    if found.returncode == 0 and found.output.strip():
        return found.output.strip().splitlines()[-1]
    if shutil.which("pyenv") is None:
        return None
    root = run(["pyenv", "root"], Path.cwd()).output.strip()
    candidates = sorted(
        (path for path in Path(root, "versions").glob(f"{version}.*") if (path / "bin/python3").exists()),
        key=lambda path: [int(part) for part in path.name.split(".") if part.isdigit()],
    )
    return str(candidates[-1] / "bin/python3") if candidates else None


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


def write_wide_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A CSV of `rows` rows with 30 mixed feature columns and a yes/no `label` (for measuring growth).

    20 numeric columns (14 decimal, 6 whole numbers; three with about 2% missing values) and 10 categorical
    ones (3 to 12 levels; two with missing values); the label depends on a few of them plus noise.
    """
    import random

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


# Monitoring experiments: tests/monitoring/experiments.py runs inside a baked project's environment.
EXPERIMENTS = Path(__file__).parent / "monitoring" / "experiments.py"


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
