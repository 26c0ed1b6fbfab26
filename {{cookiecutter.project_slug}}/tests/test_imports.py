"""The package's own import graph: no import cycle, and each DVC stage names as `deps` every module its
command runs, so `dvc repro` reruns a stage whose code changed."""

from __future__ import annotations

import ast
import re
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


def cycles(known: dict[str, Path]) -> list[list[str]]:
    """The groups of the package's modules that import one another in a ring, lazy imports included
    (Tarjan's strongly connected components over the graph of `imported`)."""
    graph = {name: imported(name, path, known) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in graph[name]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = [stack.pop()]
            while group[-1] != name:
                group.append(stack.pop())
            if len(group) > 1 or name in graph[name]:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_the_package_has_no_import_cycle():
    """No two modules import each other, directly or through others, not even lazily inside a function:
    a ring of imports works only as long as every import in it stays where it is."""
    assert cycles(modules()) == []


def test_the_cycle_check_finds_a_ring_through_a_lazy_import(tmp_path):
    package = tmp_path / "src" / PACKAGE
    package.mkdir(parents=True)
    files = {
        "__init__.py": "",
        "model.py": "from .io import save\n",
        "io.py": f"def save():\n    from {PACKAGE}.card import write\n",
        "card.py": "from . import model\n",
        "alone.py": "from .io import save\n",
    }
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")

    ring = [f"{PACKAGE}.{name}" for name in ("card", "io", "model")]
    assert cycles(modules(tmp_path / "src", PACKAGE)) == [ring]
