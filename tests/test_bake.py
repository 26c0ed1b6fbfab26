"""Static checks of the named bakes: exact file set, no leftover Jinja, parseable config, ruff clean.

The file table lives in expected_files.py and the checks in harness/checks.py, which test_matrix.py and
test_hostile.py run too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import BAKES
from harness.bakes import bake, write_team_csv
from harness.checks import (
    verify_configs_parse,
    verify_exact_files,
    verify_no_template_syntax,
    verify_ruff_clean,
)


@pytest.fixture(scope="module", params=list(BAKES))
def bake_name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def project(bake_name, tmp_path_factory) -> Path:
    """A bake of its own, as cookiecutter left it: the session's shared bakes get trained by other
    modules (models, reports, .venv), and the checks here are of the files a bake starts with."""
    answers = BAKES[bake_name]
    project = bake(tmp_path_factory.mktemp(f"static-{bake_name}"), **answers)
    if answers.get("dataset") == "csv":
        write_team_csv(project / "data/raw/data.csv", "classification", answers["target_column"])
    return project


def test_bake_has_exactly_the_expected_files(project, bake_name):
    verify_exact_files(project, BAKES[bake_name])


def test_no_jinja_is_left_over(project):
    verify_no_template_syntax(project)


def test_config_files_parse(project):
    verify_configs_parse(project)


def test_ruff_finds_nothing(project):
    verify_ruff_clean(project)


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
