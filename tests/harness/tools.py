"""Finding the tools the tests call and running commands, with one rule for a tool that is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2]
# The template's dev environment (make setup): the tools pinned in its pyproject.toml live here.
DEV_BIN = Path(sys.executable).parent


def missing(what: str, how: str = "make setup or make system-tools installs it") -> None:
    """A tool a test needs is not installed: skip on a developer's machine, fail on CI (CI is set)."""
    message = f"{what} is not installed ({how})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str, how: str = "make setup or make system-tools installs it") -> str:
    """The path of `name`: the dev environment's own first, else the one on PATH; `missing` otherwise."""
    if (DEV_BIN / name).exists():
        return str(DEV_BIN / name)
    found = shutil.which(name)
    if found is None:
        missing(name, how)
    return found


def uv_available() -> bool:
    return shutil.which("uv") is not None


@dataclass
class Result:
    command: str
    returncode: int
    output: str  # stdout and stderr interleaved, or stdout alone when run with apart=True
    seconds: float
    errors: str = ""  # stderr, when run with apart=True

    def __str__(self) -> str:
        return (
            f"$ {self.command}  (exit {self.returncode}, {self.seconds:.1f} s)\n"
            f"{self.output[-6000:]}{self.errors[-2000:]}"
        )


def run(
    command: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    *,
    apart: bool = False,
) -> Result:
    """Run a command over this process's environment plus `env`; stdout and stderr together (the order a
    person would see), or kept apart with `apart` (for tests that read what went to stderr)."""
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if apart else subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(
        " ".join(command),
        completed.returncode,
        completed.stdout,
        time.perf_counter() - started,
        completed.stderr or "",
    )


def check(result: Result) -> Result:
    assert result.returncode == 0, str(result)
    return result


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
