"""deploy/set_image.py moves an image and nothing else, and the make targets around it keep outside values
as data (no recipe expands a hostile value)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.k8s import (
    ANSWERS,
    DIGEST,
    IMAGE,
    by_kind,
    kustomize,
    snapshot,
)
from harness.tools import DEV_BIN, Result, run


@pytest.fixture(scope="module")
def project(bake_answers) -> Path:
    return bake_answers(ANSWERS)


@pytest.fixture
def deploy(project, tmp_path) -> Path:
    """A fresh copy of the baked deploy/ for each test (set_image.py edits the overlays next to it)."""
    return Path(shutil.copytree(project / "deploy", tmp_path / "deploy"))


def set_image(deploy: Path, *arguments: str) -> Result:
    return run([sys.executable, str(deploy / "set_image.py"), *arguments], apart=True, timeout=60)


PLACEHOLDER = f"    digest: sha256:{'0' * 64}\n"


@pytest.mark.parametrize(
    ("overlay_name", "reference", "old", "new"),
    [
        ("staging", f"{IMAGE}@{DIGEST}", PLACEHOLDER, f"    digest: {DIGEST}\n"),
        ("production", f"{IMAGE}@{DIGEST}", PLACEHOLDER, f"    digest: {DIGEST}\n"),
        (
            "production",
            f"registry.example.com:5000/team/scorer@{DIGEST}",
            f"    newName: {IMAGE}\n{PLACEHOLDER}",
            f"    newName: registry.example.com:5000/team/scorer\n    digest: {DIGEST}\n",
        ),
    ],
    ids=["staging-digest", "production-digest", "other-registry"],
)
def test_set_image_rewrites_only_the_image_and_keeps_comments(deploy, overlay_name, reference, old, new):
    path = deploy / "k8s/overlays" / overlay_name / "kustomization.yaml"
    before = snapshot(deploy)
    text = path.read_text()
    assert old in text

    result = set_image(deploy, overlay_name, reference)

    assert result.returncode == 0, result.errors
    # Every other line of the overlay (comments included) and every other file is as it was.
    changed = str(path.relative_to(deploy))
    assert snapshot(deploy) == {**before, changed: text.replace(old, new).encode()}
    (container,) = by_kind(kustomize(path.parent))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == reference


def test_set_image_keeps_the_lines_after_an_images_block_in_the_middle(deploy):
    path = deploy / "k8s/overlays/staging/kustomization.yaml"
    head, block = path.read_text().split("images:\n")
    path.write_text(f"images:\n{block}\n# the rest of the overlay\n{head}")
    text = path.read_text()

    result = set_image(deploy, "staging", f"{IMAGE}@{DIGEST}")

    assert result.returncode == 0, result.errors
    assert path.read_text() == text.replace(PLACEHOLDER, f"    digest: {DIGEST}\n")
    (container,) = by_kind(kustomize(path.parent))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{IMAGE}@{DIGEST}"


@pytest.mark.parametrize(
    "arguments",
    [
        ("staging", IMAGE),  # neither tag nor digest
        ("staging", f"{IMAGE}:sha-abc1234"),  # a tag can be moved after review: digests only
        ("production", f"{IMAGE}:v1.2.3"),
        ("staging", f"ghcr.io/Acme-ML/fraud-scorer@{DIGEST}"),  # uppercase repository
        ("staging", f"{IMAGE}@sha256:abc123"),  # short digest
        ("production", f"{IMAGE}:v1@{DIGEST}"),  # tag and digest together
        ("production", f"{IMAGE}:bad tag"),
        ("production", f"{IMAGE}:-v1"),  # a tag cannot start with '-'
        ("production", ""),
        ("canary", f"{IMAGE}@{DIGEST}"),  # no such overlay
        ("../../..", f"{IMAGE}@{DIGEST}"),  # nor a way out of deploy/k8s/overlays
        ("staging",),  # missing argument
    ],
)
def test_set_image_refuses_bad_arguments_with_one_line_and_exit_2(deploy, arguments):
    before = snapshot(deploy)

    result = set_image(deploy, *arguments)

    assert result.returncode == 2, result.output + result.errors
    assert len(result.errors.strip().splitlines()) == 1, result.errors
    assert result.errors.startswith("set_image: ")
    assert snapshot(deploy) == before


def test_set_image_is_ruff_clean_under_the_generated_projects_rules(project):
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = run(
            [sys.executable, "-m", "ruff", *command, "deploy/set_image.py"],
            cwd=project,
            apart=True,
            timeout=60,
        )
        assert result.returncode == 0, result.output + result.errors


# --- make variables stay data (issue 10, defect 5) --------------------------------------------------

HOSTILE = ("$(shell touch {sentinel}/make)", "`touch {sentinel}/backtick`", "$(touch {sentinel}/dollar)")


def external_variables(makefile: str) -> list[str]:
    """The names the generated Makefile declares as values from outside (its EXTERNAL list)."""
    declaration = makefile.split("EXTERNAL :=", 1)[1].split("\n$(", 1)[0]
    return declaration.replace("\\", " ").split()


def test_recipes_read_outside_values_only_as_quoted_environment_variables(project):
    """No recipe line pastes $(IMAGE) or ${IMAGE} (make text) where "$$IMAGE" (shell data) belongs."""
    makefile = (project / "Makefile").read_text()
    names = external_variables(makefile)
    assert {"IMAGE", "OVERLAY", "BRANCH", "TITLE", "PR_NUMBER", "TAG", "VERSION", "ALIAS"} <= set(names)
    recipes = [
        line for line in makefile.splitlines() if line.startswith("\t") and not line.startswith("\t$(eval")
    ]
    pasted = [line for line in recipes for name in names if f"$({name})" in line or f"${{{name}}}" in line]
    assert pasted == []


@pytest.mark.parametrize("payload", HOSTILE, ids=["make-shell", "backticks", "shell-substitution"])
def test_make_set_image_with_a_hostile_image_runs_nothing_and_is_refused(project, tmp_path, payload):
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    work = Path(shutil.copytree(project, tmp_path / "project", symlinks=True))
    before = snapshot(work / "deploy")
    hostile = payload.format(sentinel=sentinel)
    path = {"PATH": f"{DEV_BIN}{os.pathsep}{os.environ['PATH']}"}

    result = run(
        ["make", "--no-print-directory", "set-image", "OVERLAY=staging", f"IMAGE={hostile}", "RUN=env"],
        work, path, timeout=60, apart=True,
    )  # fmt: skip

    assert list(sentinel.iterdir()) == []
    assert result.returncode != 0
    # The refusal quotes the value verbatim: it reached set_image.py as one literal argument.
    assert f"set_image: {hostile!r} is not an image reference" in result.errors
    assert snapshot(work / "deploy") == before


@pytest.mark.parametrize(
    "target",
    ["set-image", "k8s-render", "pr-number", "gate", "promote", "serve", "baseline", "smoke", "bench"],
)
def test_no_target_expands_a_hostile_command_line_or_environment_value(project, tmp_path, target):
    """`make -n` expands every recipe as make would, without running it: no value may run code then."""
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    names = external_variables((project / "Makefile").read_text())
    on_command_line = [f"{name}=$(shell touch {sentinel}/cli-{name})" for name in names]
    from_environment = {name: f"$(shell touch {sentinel}/env-{name})" for name in names}

    for arguments, environment in ((on_command_line, {}), ([], from_environment)):
        result = run(
            ["make", "-n", "--no-print-directory", target, *arguments],
            project,
            environment,
            timeout=60,
            apart=True,
        )
        assert result.returncode == 0, result.errors

    assert sorted(path.name for path in sentinel.iterdir()) == []
