"""The hooks as modules: answer validation, and removing the paths of the option values not chosen."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from expected_files import COMMON_FILES, PROJECT_TEMPLATE, owned_files, template_files

HOOKS = Path(__file__).resolve().parents[1] / "hooks"
DEFAULTS = json.loads((HOOKS.parent / "cookiecutter.json").read_text())
TABLE = DEFAULTS["_paths"]  # option -> value -> the paths that value owns


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
    removed = post.paths_to_remove(TABLE, {"license": license_name})
    assert f"LICENSE-{license_name}" not in removed
    assert {path for path in removed if path.startswith("LICENSE")} == {
        f"LICENSE-{other}" for other in DEFAULTS["license"] if other != license_name
    }


@pytest.mark.parametrize("option", list(TABLE))
def test_table_covers_every_choice_of_its_option(option):
    assert list(TABLE[option]) == DEFAULTS[option]


def test_unselected_capabilities_lose_their_files():
    removed = post.paths_to_remove(TABLE, {"license": "MIT", "deploy": "none", "scheduled_retraining": "no"})
    assert {"deploy", ".github/workflows/deploy-staging.yml", ".github/workflows/retrain.yml"} <= set(removed)
    assert not {"deploy", ".github/workflows/retrain.yml"} & set(
        post.paths_to_remove(TABLE, {"license": "MIT", "deploy": "kubernetes", "scheduled_retraining": "yes"})
    )


def test_a_path_several_values_own_stays_when_any_of_them_is_chosen():
    """monitor.yml belongs to every cloud remote: choosing one keeps it, a folder remote or none drops it."""
    monitor = ".github/workflows/monitor.yml"
    assert monitor not in post.paths_to_remove(TABLE, {"dvc_remote": "gcs"})
    assert monitor in post.paths_to_remove(TABLE, {"dvc_remote": "local"})


def test_remove_takes_files_folders_and_globs(tmp_path):
    for name in ("keep.txt", "a/one.yml", "a/b/two.yml", "c/three.yml", "c/four.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    post.remove(tmp_path, ["a", "c/*.yml", "missing.txt"])
    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert left == ["c/four.txt", "keep.txt"]


def test_finish_moves_each_chosen_variant_into_place(tmp_path):
    for name in DEFAULTS["license"]:
        (tmp_path / f"LICENSE-{name}").write_text(name)
    variants = tmp_path / ".github/dvc-remote-login"
    variants.mkdir(parents=True)
    for remote in DEFAULTS["dvc_remote"]:
        (variants / f"{remote}.yml").write_text(remote)
    answers = {"license": "Apache-2.0", "dvc_remote": "gcs", "deploy": "none", "scheduled_retraining": "no"}
    post.remove(tmp_path, post.paths_to_remove(TABLE, answers))
    post.finish(tmp_path, answers)
    assert (tmp_path / "LICENSE").read_text() == "Apache-2.0"
    assert (tmp_path / ".github/actions/dvc-remote-login/action.yml").read_text() == "gcs"
    assert not variants.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [".github", "LICENSE"]


def test_rename_table_covers_options_with_variant_files():
    """Each moved variant is a file its value owns, so the siblings of the chosen one are removed."""
    for option, (pattern, _) in post.RENAME.items():
        for value in DEFAULTS[option]:
            assert pattern.format(value) in TABLE[option][value]


# ---------------------------------------------------------------------------------------------------------
# The table against the template's files


@pytest.mark.parametrize(
    ("option", "value", "entry"),
    [
        (option, value, entry)
        for option, owners in TABLE.items()
        for value, entries in owners.items()
        for entry in entries
    ],
)
def test_every_path_in_the_table_names_files_of_the_template(option, value, entry):
    """A typo in the table would remove nothing and keep a file the value does not use."""
    assert entry
    assert not entry.startswith("/")
    assert ".." not in entry.split("/")
    assert template_files(entry), f"_paths.{option}.{value}: {entry!r} matches nothing in the template"


def test_no_file_is_owned_by_two_options():
    """The hook removes a file when its option's chosen value does not own it; owned by two options, it
    would go whenever either is not chosen, although the other one's chosen value owns it."""
    owners: dict[str, set[str]] = {}
    for option, values in TABLE.items():
        for file in {file for value in values for file in owned_files(option, value)}:
            owners.setdefault(file, set()).add(option)
    assert {file: options for file, options in owners.items() if len(options) > 1} == {}


def template_tree() -> set[str]:
    """Every file of the template's project folder, as named there."""
    return {
        str(path.relative_to(PROJECT_TEMPLATE))
        for path in PROJECT_TEMPLATE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize(
    ("option", "value"), [(option, value) for option, values in TABLE.items() for value in values]
)
def test_the_hook_removes_exactly_what_values_not_chosen_own(option, value, tmp_path):
    """On a copy of the template's files: a file no value owns stays, the chosen value's files stay (the
    chosen variant moved to its place), and a file only other values own is gone."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_TEMPLATE, project, ignore=shutil.ignore_patterns("__pycache__"))
    answers = {key: DEFAULTS[key][0] for key in TABLE} | {option: value}
    post.remove(project, post.paths_to_remove(TABLE, answers))
    post.finish(project, answers)
    left = {str(path.relative_to(project)) for path in project.rglob("*") if path.is_file()}

    moved = {pattern.format(answers[key]): place for key, (pattern, place) in post.RENAME.items()}
    chosen = {file for key in TABLE for file in owned_files(key, answers[key])}
    anyone = {file for key, values in TABLE.items() for other in values for file in owned_files(key, other)}
    owned_by_no_value = template_tree() - anyone
    assert owned_by_no_value - left == set(), "removed although no value owns them"
    assert {moved.get(file, file) for file in chosen} - left == set(), "the chosen value's files are missing"
    assert left == owned_by_no_value | {moved.get(file, file) for file in chosen}


def test_no_value_owns_a_file_every_bake_has():
    """A file listed as in every bake (tests/expected_files.py) and owned by a value would be removed
    whenever that value is not chosen."""
    owned = {
        file for option, values in TABLE.items() for value in values for file in owned_files(option, value)
    }
    assert owned & set(COMMON_FILES) == set()
