"""`cruft update` brings a template change into a generated project and keeps the project's own edits.

The post-gen hook writes `.cruft.json`, so this works for a project baked with cookiecutter (from a path
or a git URL) as well as for one made with `cruft create`. The template is a git copy of this working
tree, changed after the bakes; uv is kept off PATH, so bakes skip the lock.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.tools import TEMPLATE, Result, check, run, tool

NAME = "Update {{ 7*7 }} O'Brien"  # stored answers are replayed by cruft; they must stay data
SLUG = "update-7-7-o-brien"
OWN_EDIT = "Notes the team added after the bake.\n"
TEMPLATE_LINE = "# added to the template after the bake\n"
# A new variable whose default derives from the answers, and a new file that uses it.
HOMEPAGE_DEFAULT = "https://github.com/{{ cookiecutter.github_owner }}/{{ cookiecutter.project_slug }}"
HOMEPAGE_FILE = "# {{ cookiecutter.project_name }}\n\n{{ cookiecutter.homepage }}\n"
WAYS = ("cookiecutter-path", "cookiecutter-git-url", "cruft-create")


def step(command: list[str], cwd: Path, env: dict[str, str]) -> Result:
    """A step that must succeed, with stdout apart (git rev-parse's answer)."""
    return check(run(command, cwd, env, timeout=300, apart=True))


def commit_all(repository: Path, env: dict[str, str], message: str) -> str:
    step(["git", "add", "--all"], repository, env)
    step(["git", "commit", "--quiet", "--message", message], repository, env)
    return step(["git", "rev-parse", "HEAD"], repository, env).output.strip()


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """PATH with git and cruft only (no uv), no user git or cookiecutter configuration."""
    cruft = tool("cruft", "a dev dependency of the template: make setup")
    home = tmp_path_factory.mktemp("update-home")
    (home / "bin").mkdir()
    (home / "bin/git").symlink_to(shutil.which("git"))
    (home / "bin/cruft").symlink_to(cruft)
    (home / "cookiecutterrc").write_text(
        f"cookiecutters_dir: {home / 'clones'}\nreplay_dir: {home / 'replay'}\n"
    )
    return os.environ | {
        "PATH": str(home / "bin"),
        "HOME": str(home),
        "COOKIECUTTER_CONFIG": str(home / "cookiecutterrc"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Template Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Template Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def ignored_names() -> list[str]:
    """The template's .gitignore entries as names to leave out of a copy (environments, caches, builds):
    what git would not commit is not part of the template."""
    lines = (TEMPLATE / ".gitignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def update(tmp_path_factory, env) -> dict:
    """Bake v1 three ways, commit an edit in each project, change the template (v2), `cruft update` each."""
    root = tmp_path_factory.mktemp("update")
    template = root / "template"
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns(".git", *ignored_names()))
    step(["git", "init", "--quiet", "--initial-branch=main"], template, env)
    v1 = commit_all(template, env, "v1")

    def cookiecutter(way: str, source: str) -> list[str]:
        command = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(root / way)]
        return [*command, source, f"project_name={NAME}"]

    bakes = {
        "cookiecutter-path": cookiecutter("cookiecutter-path", str(template)),
        "cookiecutter-git-url": cookiecutter("cookiecutter-git-url", f"git+{template.as_uri()}"),
        "cruft-create": [
            "cruft", "create", "--no-input", "--output-dir", str(root / "cruft-create"),
            "--extra-context", json.dumps({"project_name": NAME}), str(template),
        ],
    }  # fmt: skip
    projects, records = {}, {}
    for way, command in bakes.items():
        step(command, root, env)
        project = projects[way] = root / way / SLUG
        records[way] = json.loads((project / ".cruft.json").read_text())
        step(["git", "init", "--quiet", "--initial-branch=main"], project, env)
        commit_all(project, env, "Baked")
        with (project / "README.md").open("a") as readme:
            readme.write(OWN_EDIT)
        commit_all(project, env, "Our own edit")

    with (template / "{{cookiecutter.project_slug}}/.gitignore").open("a") as gitignore:
        gitignore.write(TEMPLATE_LINE)
    variables = json.loads((template / "cookiecutter.json").read_text())
    (template / "cookiecutter.json").write_text(json.dumps(variables | {"homepage": HOMEPAGE_DEFAULT}))
    (template / "{{cookiecutter.project_slug}}/HOMEPAGE.md").write_text(HOMEPAGE_FILE)
    v2 = commit_all(template, env, "v2")

    outputs = {
        way: step(["cruft", "update", "--skip-apply-ask", "--allow-untracked-files"], project, env)
        for way, project in projects.items()
    }
    return {
        "template": template,
        "v1": v1,
        "v2": v2,
        "projects": projects,
        "records": records,
        "outputs": outputs,
    }


@pytest.mark.parametrize("way", WAYS)
def test_a_bake_records_its_template_commit_and_answers(update, way):
    record = update["records"][way]
    expected = update["template"].as_uri() if way == "cookiecutter-git-url" else str(update["template"])
    assert (record["template"], record["commit"], record["directory"]) == (expected, update["v1"], None)
    answers = record["context"]["cookiecutter"]
    assert (answers["project_name"], answers["project_slug"]) == (NAME, SLUG)
    assert (answers["_template"], answers["_commit"]) == (record["template"], update["v1"])
    assert not {"_output_dir", "_repo_dir"} & set(answers), "no paths of the machine that baked it"


@pytest.mark.parametrize("way", WAYS)
def test_cruft_update_brings_the_template_change_and_keeps_the_project_edit(update, env, way):
    project = update["projects"][way]
    assert "Good work!" in update["outputs"][way].output, update["outputs"][way].output
    assert (project / ".gitignore").read_text().endswith(TEMPLATE_LINE)
    assert (project / "README.md").read_text().endswith(OWN_EDIT)
    assert (project / "README.md").read_text().startswith(f"# {NAME}\n")
    assert not list(project.rglob("*.rej")), "every hunk applied"
    status = step(["git", "status", "--porcelain"], project, env)
    assert {line[3:] for line in status.output.splitlines()} == {".cruft.json", ".gitignore", "HOMEPAGE.md"}


@pytest.mark.parametrize("way", WAYS)
def test_a_new_default_renders_from_the_stored_answers_which_stay_data(update, way):
    project = update["projects"][way]
    expected = f"# {NAME}\n\nhttps://github.com/your-github-user/{SLUG}\n"
    assert (project / "HOMEPAGE.md").read_text() == expected
    record = json.loads((project / ".cruft.json").read_text())
    assert record["commit"] == update["v2"]
    assert record["context"]["cookiecutter"]["project_name"] == NAME


def load_post_gen_hook():
    spec = importlib.util.spec_from_file_location("post_gen_project", TEMPLATE / "hooks/post_gen_project.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("gh:my-org/ml-template", "https://github.com/my-org/ml-template.git"),
        ("gl:my-org/ml-template", "https://gitlab.com/my-org/ml-template.git"),
        ("git+https://example.com/ml-template.git", "https://example.com/ml-template.git"),
        ("git@github.com:my-org/ml-template.git", "git@github.com:my-org/ml-template.git"),
    ],
)
def test_the_record_names_the_template_so_that_git_can_clone_it(tmp_path, env, given, recorded):
    clone = tmp_path / "clone"  # where cookiecutter cloned the URL to (`_repo_dir`)
    shutil.copytree(TEMPLATE / "hooks", clone / "hooks")
    step(["git", "init", "--quiet"], clone, env)
    commit = commit_all(clone, env, "v1")
    project = tmp_path / "project"
    project.mkdir()
    load_post_gen_hook().write_cruft_record(project, {"_template": given, "_repo_dir": str(clone), "x": "1"})
    record = json.loads((project / ".cruft.json").read_text())
    assert (record["template"], record["commit"]) == (recorded, commit)
    assert record["context"]["cookiecutter"]["x"] == "1"


def test_no_record_when_cruft_bakes_or_the_template_is_not_in_git(tmp_path, capsys):
    hook = load_post_gen_hook()
    hook.write_cruft_record(tmp_path, {"_template": str(TEMPLATE), "_commit": "abc"})  # cruft writes its own
    assert not (tmp_path / ".cruft.json").exists()
    plain = tmp_path / "plain"  # a template folder outside git
    plain.mkdir()
    hook.write_cruft_record(tmp_path, {"_template": str(plain), "_repo_dir": str(plain)})
    assert not (tmp_path / ".cruft.json").exists()
    assert "cruft link" in capsys.readouterr().err
