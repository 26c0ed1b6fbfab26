"""The static checks of a baked project, one `verify_*` function each, shared by every test that inspects
bakes (the named bakes, the option matrix, the hostile answers): nothing here installs or runs the project."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from expected_files import JINJA, expected_files, package_of, project_files


def bake_files(project: Path, *suffixes: str) -> list[Path]:
    """The bake's files (all, or those with one of `suffixes`), outside .git."""
    return sorted(
        path
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.parts and (not suffixes or path.suffix in suffixes)
    )


def verify_exact_files(project: Path, answers: dict[str, str]) -> None:
    """The files git would commit are exactly those the answers call for (tests/expected_files.py)."""
    assert project_files(project) == expected_files(package_of(project), answers)


def verify_no_template_syntax(project: Path) -> None:
    leftovers = [
        str(path.relative_to(project))
        for path in bake_files(project)
        if path.name != "uv.lock" and JINJA.search(path.read_text(encoding="utf-8", errors="ignore"))
    ]
    assert leftovers == []


def parser_for(path: Path) -> Callable[[str], object] | None:
    """The parser of a config file by its name (uv.lock is TOML, dvc.lock YAML), or None."""
    if path.suffix == ".toml" or path.name == "uv.lock":
        return tomllib.loads
    if path.suffix in (".yaml", ".yml") or path.name == "dvc.lock":
        return lambda text: list(yaml.safe_load_all(text))
    return json.loads if path.suffix == ".json" else None


def verify_configs_parse(project: Path) -> None:
    """Every TOML, YAML and JSON file parses (a failure names the file)."""
    configs = [(path, parse) for path in bake_files(project) if (parse := parser_for(path))]
    assert any(path.name == "pyproject.toml" for path, _ in configs)
    for path, parse in configs:
        try:
            parse(path.read_text(encoding="utf-8"))
        except Exception as error:  # any parser's error, reported with the file
            pytest.fail(f"{path.relative_to(project)}: {error}")


def verify_python_compiles(project: Path) -> None:
    for path in bake_files(project, ".py"):
        compile(path.read_text(encoding="utf-8"), str(path.relative_to(project)), "exec")


def ruff_findings(project: Path, formatted: bool = True) -> str:
    """What `ruff check` (and `ruff format --check` unless `formatted` is False) report in a bake, with its
    own config ('' when clean)."""
    ruff = [sys.executable, "-m", "ruff"]
    commands = [[*ruff, "check", "--no-cache", "."]]
    if formatted:
        commands.append([*ruff, "format", "--check", "--no-cache", "."])
    reports = []
    for command in commands:
        result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        if result.returncode:
            reports.append(result.stdout + result.stderr)
    return "\n".join(reports)


def verify_ruff_clean(project: Path, formatted: bool = True) -> None:
    assert ruff_findings(project, formatted) == ""
