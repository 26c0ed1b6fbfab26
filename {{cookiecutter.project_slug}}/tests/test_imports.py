"""The package's own import graph: every module imports on its own (no import cycle), and each DVC stage
names as `deps` every module its command runs, so `dvc repro` reruns a stage whose code changed."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
SOURCE = ROOT / "src"


def modules(source: Path = SOURCE, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its __init__.py)."""
    found = {}
    for path in sorted((source / package).rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's own modules `name` imports anywhere in its file, lazy imports in functions included,
    written relative (`from .x import y`) or absolute (`from package.x import y`, `import package.x`)."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # `from .evaluation import card`: the module evaluation.card; `from .model import x`: model.
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in known)
    return found


def closure(start: str, known: dict[str, Path]) -> set[str]:
    """`start` and every package module importing it runs, with the __init__.py of each package on the way."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1)]
        todo.extend(parent for parent in parents if parent in known)
        todo.extend(imported(name, known[name], known))
    return seen


def uncovered(files: set[Path], deps: list[str], root: Path = ROOT) -> list[str]:
    """The files no dep names, itself or as a folder holding it."""
    covered = [(root / dep).resolve() for dep in deps]
    return sorted(
        str(path.relative_to(root))
        for path in files
        if not any(path.resolve() == dep or dep in path.resolve().parents for dep in covered)
    )


def stage_modules(command: str) -> list[str]:
    """The package modules a stage command runs (`python -m package.stages.x`)."""
    return re.findall(rf"python -m ({re.escape(PACKAGE)}(?:\.\w+)*)", command)


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_names_every_module_its_command_imports(stage):
    known = modules()
    spec = STAGES[stage]
    started = stage_modules(spec["cmd"])
    assert started, f"stage {stage!r} runs no module of the package: {spec['cmd']}"
    deps = [dep if isinstance(dep, str) else next(iter(dep)) for dep in spec.get("deps", [])]
    files = {known[name] for module in started for name in closure(module, known)}
    missing = uncovered(files, deps)
    assert not missing, f"dvc.yaml stage {stage!r} runs these files but does not list them in deps: {missing}"


def test_the_import_graph_follows_relative_absolute_and_lazy_imports(tmp_path):
    """The check above can fail: a module reached only through a lazy or an absolute import is found,
    and a stage whose deps leave it out is reported."""
    package = tmp_path / "src" / PACKAGE
    (package / "stages").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "stages/__init__.py": "",
        "stages/fit.py": "from ..model import build\n",
        "model.py": f"def build():\n    from {PACKAGE}.io import save\n    from . import extra\n",
        "io.py": "from .model import build  # a cycle, lazy on the other side\n",
        "extra.py": "",
        "unused.py": "",
    }
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")
    known = modules(tmp_path / "src", PACKAGE)

    reached = closure(f"{PACKAGE}.stages.fit", known)

    assert reached == {PACKAGE, f"{PACKAGE}.stages", f"{PACKAGE}.stages.fit", f"{PACKAGE}.model"} | {
        f"{PACKAGE}.io",
        f"{PACKAGE}.extra",
    }
    deps = [
        f"src/{PACKAGE}/stages",
        f"src/{PACKAGE}/__init__.py",
        f"src/{PACKAGE}/model.py",
        f"src/{PACKAGE}/io.py",
    ]
    assert uncovered({known[name] for name in reached}, deps, tmp_path) == [f"src/{PACKAGE}/extra.py"]


# Run in a fresh interpreter: import what the package imports from elsewhere once (the slow part), then
# for each module fork a child that imports that module first, with none of the package loaded yet.
IMPORT_EACH_ALONE = """
import importlib, json, os, sys, traceback

modules, others = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for other in others:
    try:
        importlib.import_module(other)
    except Exception:
        pass  # the child that needs it imports it again and reports the failure
failed = {}
for module in modules:
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        try:
            importlib.import_module(module)
        except BaseException:
            os.write(writer, traceback.format_exc().encode())
            os._exit(1)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        report = pipe.read().decode()
    if os.waitpid(child, 0)[1] != 0:
        failed[module] = report.strip().splitlines()[-1] if report else "the import crashed"
print(json.dumps(failed))
"""


def imported_from_elsewhere(known: dict[str, Path]) -> list[str]:
    """The modules outside the package that the package's modules import (absolute imports only)."""
    names = set()
    for path in known.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module)
    return sorted(name for name in names if name.split(".")[0] not in {PACKAGE, "__future__"})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="imports each module in a forked child")
def test_every_module_imports_on_its_own(schema):
    """An import cycle shows up as an ImportError when one module of it is imported first: each module
    is imported first, with none of the package loaded before it. (The service's modules read the schema
    when imported: the `schema` fixture skips this until `make train` wrote it.)"""
    known = modules()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_EACH_ALONE,
            json.dumps(sorted(known)),
            json.dumps(imported_from_elsewhere(known)),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failed, failed
