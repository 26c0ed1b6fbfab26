"""Static checks of baked projects: exact file set, no leftover Jinja, parseable config, ruff clean."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import BAKES
from support import TEMPLATE

PACKAGE_FILES = [
    "__init__.py", "config.py", "data.py", "features.py", "gate.py", "limits.py", "metrics.py",
    "model.py", "report.py", "schema.py", "service.py", "smoke.py", "tracking.py",
    "stages/__init__.py", "stages/evaluate.py", "stages/gate.py", "stages/prepare.py", "stages/promote.py",
    "stages/train.py", "stages/validate.py",
]  # fmt: skip
COMMON_FILES = [
    ".dvc/.gitignore", ".dvc/config", ".dvcignore", ".gitignore", ".pre-commit-config.yaml",
    ".python-version", "LICENSE", "Makefile", "README.md", "SECURITY.md", "bentofile.yaml", "dvc.yaml",
    "params.yaml", "pyproject.toml", "uv.lock",
    ".github/CODEOWNERS", ".github/dependabot.yml", ".github/rulesets/main.json",
    ".github/workflows/ci.yml", ".github/workflows/image.yml", ".github/workflows/pr-report.yml",
    ".github/workflows/release.yml",
    "tests/conftest.py", "tests/test_config.py", "tests/test_features.py", "tests/test_gate.py",
    "tests/test_model_quality.py", "tests/test_schema.py", "tests/test_service.py",
]  # fmt: skip
# Leftover template syntax; `${{ ... }}` is GitHub Actions' own and stays.
JINJA = re.compile(r"(?<!\$)\{\{|\{%|\{#|cookiecutter\.")
# Files that exist only for one value of an option (the post-gen hook removes them otherwise).
OPTION_FILES: dict[tuple[str, str], list[str]] = {
    ("deploy", "kubernetes"): [
        ".github/workflows/deploy-production.yml", ".github/workflows/deploy-staging.yml",
        "deploy/README.md", "deploy/set_image.py",
        "deploy/argocd/production.yaml", "deploy/argocd/staging.yaml",
        "deploy/k8s/base/deployment.yaml", "deploy/k8s/base/hpa.yaml", "deploy/k8s/base/kustomization.yaml",
        "deploy/k8s/base/networkpolicy.yaml", "deploy/k8s/base/poddisruptionbudget.yaml",
        "deploy/k8s/base/service.yaml", "deploy/k8s/base/serviceaccount.yaml",
        "deploy/k8s/overlays/production/kustomization.yaml", "deploy/k8s/overlays/staging/kustomization.yaml",
    ],
    ("scheduled_retraining", "yes"): [".github/workflows/retrain.yml"],
}  # fmt: skip
DEFAULTS = {key: value[0] for key, value in json.loads((TEMPLATE / "cookiecutter.json").read_text()).items()
            if isinstance(value, list) and not key.startswith("_")}  # fmt: skip


def expected_files(package: str, answers: dict[str, str]) -> set[str]:
    chosen = DEFAULTS | answers
    optional = {
        path for (key, value), paths in OPTION_FILES.items() if chosen.get(key) == value for path in paths
    }
    return set(COMMON_FILES) | optional | {f"src/{package}/{name}" for name in PACKAGE_FILES}


def project_files(project: Path) -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--cached", "--exclude-standard"],
        cwd=project, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {line for line in listed.stdout.splitlines() if line != "data/raw/data.csv"}


@pytest.fixture(scope="module", params=list(BAKES))
def bake_name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def project(bake_name, baked) -> Path:
    return baked(bake_name)


def test_bake_has_exactly_the_expected_files(project, bake_name):
    backend = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]["build-backend"]
    assert project_files(project) == expected_files(backend["module-name"], BAKES[bake_name])


def test_no_jinja_is_left_over(project):
    leftovers = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.parts and path.name != "uv.lock"
        and JINJA.search(path.read_text(errors="ignore"))
    ]  # fmt: skip
    assert leftovers == []


def test_config_files_parse(project):
    for path in project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        if path.suffix == ".toml" or path.name == "uv.lock":
            tomllib.loads(path.read_text())
        elif path.suffix in (".yaml", ".yml"):
            yaml.safe_load(path.read_text())
        elif path.suffix == ".json":
            json.loads(path.read_text())


def test_ruff_finds_nothing(project):
    ruff = [sys.executable, "-m", "ruff"]
    for command in ([*ruff, "check", "--no-cache", "."], [*ruff, "format", "--check", "--no-cache", "."]):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_project_is_a_git_repository_on_main(project):
    head = (project / ".git/HEAD").read_text().strip()
    assert head == "ref: refs/heads/main"


def test_params_match_the_answers(baked):
    defaults = yaml.safe_load((baked("default") / "params.yaml").read_text())
    assert (defaults["task"], defaults["data"]["source"], defaults["model"]["name"]) == (
        "classification", "demo", "random_forest",
    )  # fmt: skip
    csv_params = yaml.safe_load((baked("csv") / "params.yaml").read_text())
    assert (csv_params["data"]["source"], csv_params["data"]["target"]) == ("csv", "churned")
    assert csv_params["model"]["name"] == "gradient_boosting"
    dvc = yaml.safe_load((baked("csv") / "dvc.yaml").read_text())
    assert "data/raw/data.csv" in dvc["stages"]["prepare"]["deps"]
