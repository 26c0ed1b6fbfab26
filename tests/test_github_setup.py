"""`make github-setup` against a stand-in `gh` that keeps a repository's settings in a JSON file.

The stand-in answers the REST paths the script uses the way GitHub does (404 for a missing environment,
403 for writes when FAKE_GH_ADMIN=0) and records every call, so a second run can be shown to write nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAKE_GH = r"""#!/usr/bin/env python3
import json, os, re, sys, zlib

state_file = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {
    "rulesets": [], "environments": {}, "policies": {},
    "workflow": {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False}}
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")

def reply(value=None, status=200):
    json.dump(state, open(state_file, "w"))
    if status >= 400:
        print(json.dumps({"message": "error"}))
        reason = "Not Found" if status == 404 else "Must have admin rights"
        print(f"gh: {reason} (HTTP {status})", file=sys.stderr)
        sys.exit(1)
    if value is not None:
        print(json.dumps(value))
    sys.exit(0)

if args[:2] == ["repo", "view"]:
    reply({"nameWithOwner": "acme/demo"})
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = [a for a in args[1:] if not a.startswith("-") and a != method][0].split("?")[0]
body = json.load(sys.stdin) if "--input" in args else None
if method != "GET" and os.environ.get("FAKE_GH_ADMIN") == "0":
    reply(status=403)
if m := re.fullmatch(r"users/([\w-]+)", path):
    reply({"id": zlib.crc32(m[1].encode()), "type": "User"})
if m := re.fullmatch(r"repos/acme/demo/rulesets(?:/(\d+))?", path):
    if method == "POST":
        state["rulesets"].append(body | {"id": len(state["rulesets"]) + 1}); reply(state["rulesets"][-1])
    found = [r for r in state["rulesets"] if str(r["id"]) == m[1]]
    if m[1] is None:
        reply([{"id": r["id"], "name": r["name"]} for r in state["rulesets"]])
    if method == "PUT":
        found[0].update(body)
    reply(found[0])
if m := re.fullmatch(r"repos/acme/demo/environments/([\w-]+)/deployment-branch-policies", path):
    policies = state["policies"].setdefault(m[1], [])
    if method == "POST":
        policies.append(body); reply(body)
    reply({"total_count": len(policies), "branch_policies": policies})
if m := re.fullmatch(r"repos/acme/demo/environments/([\w-]+)", path):
    if method == "PUT":
        state["environments"][m[1]] = {
            "name": m[1],
            "protection_rules": [{"type": "required_reviewers", "reviewers": [
                {"type": r["type"], "reviewer": {"id": r["id"]}} for r in body["reviewers"]]}]
                if body["reviewers"] else [],
            "deployment_branch_policy": body["deployment_branch_policy"]}
    if m[1] not in state["environments"]:
        reply(status=404)
    reply(state["environments"][m[1]])
if path == "repos/acme/demo/actions/permissions/workflow":
    if method == "PUT":
        state["workflow"] = body
    reply(state["workflow"])
reply(status=404)
"""


@pytest.fixture
def github(tmp_path) -> dict[str, str]:
    """The environment that puts the stand-in gh first on PATH, with its state and call log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GH_STATE": str(tmp_path / "state.json"),
        "FAKE_GH_LOG": str(tmp_path / "calls.jsonl"),
    }


def setup_run(project: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run the shipped script (stdlib only) in the project; return the result and the gh calls it made."""
    log = Path(env["FAKE_GH_LOG"])
    log.write_text("")
    script = next(project.glob("src/*/stages/github_setup.py"))
    result = subprocess.run(
        [sys.executable, str(script)], cwd=project, env=os.environ | env, capture_output=True, text=True
    )
    return result, [json.loads(line) for line in log.read_text().splitlines()]


def writes(calls: list[list[str]]) -> list[list[str]]:
    return [call for call in calls if "--method" in call and call[call.index("--method") + 1] != "GET"]


def test_github_setup_applies_everything_once_and_a_second_run_changes_nothing(baked, github):
    project = baked("default")
    first, calls = setup_run(project, github)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "could not" not in first.stdout
    state = json.loads(Path(github["FAKE_GH_STATE"]).read_text())
    rulesets = {r["name"] for r in state["rulesets"]}
    assert rulesets == {"main", "release-tags", "release-tags-immutable", "deploy-staging"}
    main = next(r for r in state["rulesets"] if r["name"] == "main")
    assert main["rules"] == json.loads((project / ".github/rulesets/main.json").read_text())["rules"]
    production = state["environments"]["production"]
    reviewers = production["protection_rules"][0]["reviewers"]
    assert len(reviewers) == 1, "the one owner named in CODEOWNERS"
    assert reviewers[0]["type"] == "User"
    assert state["policies"]["production"] == [
        {"name": "v*", "type": "tag"},
        {"name": "main", "type": "branch"},
    ]
    assert state["policies"]["release"] == [{"name": "v*", "type": "tag"}]
    assert set(state["environments"]) == {"production", "release", "main", "staging", "retrain"}
    assert state["workflow"]["can_approve_pull_request_reviews"] is True
    assert "changed: ruleset deploy-staging, ruleset main, ruleset release-tags" in first.stdout
    assert writes(calls)

    second, calls = setup_run(project, github)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed: nothing" in second.stdout
    assert writes(calls) == []
    assert json.loads(Path(github["FAKE_GH_STATE"]).read_text()) == state


def test_github_setup_says_what_it_could_not_do_without_admin_rights(baked, github):
    project = baked("default")
    result, _ = setup_run(project, github | {"FAKE_GH_ADMIN": "0"})
    assert result.returncode == 1
    assert "could not: ruleset main: HTTP 403 (needs admin rights on the repository)" in result.stdout
    assert "could not: Actions may create pull requests: HTTP 403" in result.stdout
    assert "changed: nothing" in result.stdout


def test_make_github_setup_runs_the_shipped_script(baked):
    makefile = (baked("default") / "Makefile").read_text()
    assert "github-setup: ##" in makefile
    assert "$(RUN) python -m $(PACKAGE).stages.github_setup" in makefile
