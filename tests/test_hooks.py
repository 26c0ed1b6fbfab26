"""The hooks as modules: answer validation and the option -> removed-paths table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parents[1] / "hooks"
DEFAULTS = json.loads((HOOKS.parent / "cookiecutter.json").read_text())


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre = load("pre_gen_project")
post = load("post_gen_project")

GOOD = {
    "project_name": "My ML Project",
    "project_slug": "my-ml-project",
    "package_name": "my_ml_project",
    "author_email": "you@example.com",
    "github_owner": "my-org",
    "python_version": "3.11",
    "target_column": "target",
}


def test_good_answers_have_no_problems():
    assert pre.problems(GOOD) == []
    assert pre.main(GOOD) == 0


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("project_slug", "bad slug!", "e.g. 'bad-slug'"),
        ("project_slug", "-leading", "project_slug '-leading' is not valid"),
        ("package_name", "1-not-python", "is not a valid Python package name"),
        ("package_name", "class", "is not a valid Python package name"),
        ("project_name", "   ", "project_name is empty"),
        ("author_email", "not-an-email", "is not an e-mail address"),
        ("github_owner", "-bad-", "is not a GitHub user"),
        ("python_version", "3.9", "choose one of 3.11, 3.12, 3.13"),
        ("target_column", 'a"b', "is not a usable column name"),
    ],
)
def test_each_bad_answer_gets_one_line_saying_what_to_type(key, value, says, capsys):
    answers = GOOD | {key: value}
    assert pre.main(answers) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert says in lines[0]


def test_a_package_name_derived_from_a_bad_slug_is_not_reported_twice():
    found = pre.problems(GOOD | {"project_slug": "bad slug!", "package_name": "bad slug!"})
    assert len(found) == 1
    assert found[0].startswith("project_slug")


def test_every_supported_python_version_passes_validation_and_the_default_is_one():
    assert DEFAULTS["python_version"] in pre.PYTHON_VERSIONS
    for version in pre.PYTHON_VERSIONS:
        assert pre.problems(GOOD | {"python_version": version}) == []


@pytest.mark.parametrize("license_name", DEFAULTS["license"])
def test_license_table_keeps_exactly_the_chosen_license(license_name):
    removed = post.paths_to_remove({"license": license_name})
    assert f"LICENSE-{license_name}" not in removed
    assert sorted(removed) == sorted(
        f"LICENSE-{other}" for other in DEFAULTS["license"] if other != license_name
    )


@pytest.mark.parametrize("option", list(post.REMOVE))
def test_table_covers_every_choice_of_its_option(option):
    assert set(post.REMOVE[option]) == set(DEFAULTS[option])


def test_unselected_capabilities_lose_their_files():
    removed = post.paths_to_remove({"license": "MIT", "deploy": "none", "scheduled_retraining": "no"})
    assert {"deploy", ".github/workflows/deploy-staging.yml", ".github/workflows/retrain.yml"} <= set(removed)
    assert not {"deploy", ".github/workflows/retrain.yml"} & set(
        post.paths_to_remove({"license": "MIT", "deploy": "kubernetes", "scheduled_retraining": "yes"})
    )


def test_finish_moves_each_chosen_variant_into_place(tmp_path):
    for name in DEFAULTS["license"]:
        (tmp_path / f"LICENSE-{name}").write_text(name)
    variants = tmp_path / ".github/dvc-remote-login"
    variants.mkdir(parents=True)
    for remote in DEFAULTS["dvc_remote"]:
        (variants / f"{remote}.yml").write_text(remote)
    answers = {"license": "Apache-2.0", "dvc_remote": "gcs", "deploy": "none", "scheduled_retraining": "no"}
    post.remove(tmp_path, post.paths_to_remove(answers))
    post.finish(tmp_path, answers)
    assert (tmp_path / "LICENSE").read_text() == "Apache-2.0"
    assert (tmp_path / ".github/actions/dvc-remote-login/action.yml").read_text() == "gcs"
    assert not variants.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [".github", "LICENSE"]


def test_rename_table_covers_options_with_variant_files():
    assert set(post.RENAME) <= set(post.REMOVE)
