"""`make github-setup`: the rulesets, environments and Actions setting the workflows rely on, via `gh`.

Idempotent: it reads what the repository has, changes only what differs, and prints what it changed,
what was already right and what it could not do (most often: the logged-in user is not an admin).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

RULESETS = Path(".github/rulesets")
CODEOWNERS = Path(".github/CODEOWNERS")
WORKFLOWS = Path(".github/workflows")
# Environment -> (deployment refs it admits as (name pattern, "branch" | "tag"), required reviewers?,
# the workflow that uses it). production also admits main: deploy-production runs after the release,
# on the default branch.
ENVIRONMENTS: dict[str, tuple[list[tuple[str, str]], bool, str]] = {
    "production": ([("v*", "tag"), ("main", "branch")], True, "release.yml"),
    "release": ([("v*", "tag")], False, "release.yml"),
    "main": ([("main", "branch")], False, "ci.yml"),
    "staging": ([("main", "branch")], False, "deploy-staging.yml"),
    "retrain": ([("main", "branch")], False, "retrain.yml"),
}
RULESET_FIELDS = ("target", "enforcement", "conditions", "rules", "bypass_actors")


class GhError(RuntimeError):
    """`gh` failed; the message names the HTTP status when the API gave one."""


def gh(*args: str, body: dict | None = None) -> object:
    """Run `gh` and return its JSON output (None when empty); raise GhError on failure."""
    command = ["gh", *args] + (["--input", "-"] if body is not None else [])
    result = subprocess.run(
        command, input=json.dumps(body) if body is not None else None, capture_output=True, text=True
    )
    if result.returncode != 0:
        status = re.search(r"HTTP \d{3}", result.stderr)
        raise GhError(status.group(0) if status else (result.stderr.strip() or "gh failed"))
    return json.loads(result.stdout) if result.stdout.strip() else None


def api(path: str, method: str = "GET", body: dict | None = None) -> object:
    return gh("api", "--method", method, path, body=body)


@dataclass
class Report:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def attempt(self, what: str, action) -> None:
        """Run `action` (returns True when it changed something) and file the outcome under `what`."""
        try:
            (self.changed if action() else self.unchanged).append(what)
        except GhError as error:
            hint = " (needs admin rights on the repository)" if "403" in str(error) else ""
            self.failed.append(f"{what}: {error}{hint}")

    def print(self) -> None:
        for title, items in (("changed", self.changed), ("unchanged", self.unchanged)):
            print(f"{title}: " + (", ".join(items) or "nothing"))
        for item in self.failed:
            print(f"could not: {item}")


def apply_ruleset(repo: str, wanted: dict) -> bool:
    existing = {r["name"]: r["id"] for r in api(f"repos/{repo}/rulesets?per_page=100") or []}
    if wanted["name"] not in existing:
        api(f"repos/{repo}/rulesets", "POST", wanted)
        return True
    path = f"repos/{repo}/rulesets/{existing[wanted['name']]}"
    current = api(path)
    if all(current.get(key) == wanted.get(key) for key in RULESET_FIELDS):
        return False
    api(path, "PUT", wanted)
    return True


def code_owners(path: Path = CODEOWNERS) -> list[str]:
    """The @users and @org/teams named in CODEOWNERS, in order of first mention."""
    owners: list[str] = []
    for line in path.read_text().splitlines() if path.exists() else []:
        for word in line.split("#", 1)[0].split()[1:]:
            if word.startswith("@") and word[1:] not in owners:
                owners.append(word[1:])
    return owners


def reviewer(owner: str) -> dict:
    if "/" in owner:
        org, team = owner.split("/", 1)
        return {"type": "Team", "id": api(f"orgs/{org}/teams/{team}")["id"]}
    return {"type": "User", "id": api(f"users/{owner}")["id"]}


def apply_environment(repo: str, name: str, refs: list[tuple[str, str]], reviewers: list[dict]) -> bool:
    path = f"repos/{repo}/environments/{name}"
    try:
        current = api(path)
    except GhError as error:
        if "404" not in str(error):
            raise
        current = None
    changed = False
    have_reviewers = sorted(
        (r["type"], r["reviewer"]["id"])
        for rule in (current or {}).get("protection_rules", [])
        if rule.get("type") == "required_reviewers"
        for r in rule.get("reviewers", [])
    )
    custom = ((current or {}).get("deployment_branch_policy") or {}).get("custom_branch_policies")
    if current is None or have_reviewers != sorted((r["type"], r["id"]) for r in reviewers) or not custom:
        body = {
            "reviewers": reviewers,
            "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
        }
        api(path, "PUT", body)
        changed = True
    policies = api(f"{path}/deployment-branch-policies?per_page=100") or {}
    have = {(p["name"], p.get("type", "branch")) for p in policies.get("branch_policies", [])}
    for pattern, kind in refs:
        if (pattern, kind) not in have:
            api(f"{path}/deployment-branch-policies", "POST", {"name": pattern, "type": kind})
            changed = True
    return changed


def allow_actions_pull_requests(repo: str) -> bool:
    path = f"repos/{repo}/actions/permissions/workflow"
    current = api(path)
    if current.get("can_approve_pull_request_reviews"):
        return False
    body = {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": True}
    api(path, "PUT", body)
    return True


def main() -> int:
    report = Report()
    try:
        repo = gh("repo", "view", "--json", "nameWithOwner")["nameWithOwner"]
    except GhError as error:
        print(f"github-setup: gh cannot see this repository ({error}); run `gh auth login` first")
        return 1
    for path in sorted(RULESETS.glob("*.json")):
        wanted = json.loads(path.read_text())
        report.attempt(f"ruleset {wanted['name']}", lambda wanted=wanted: apply_ruleset(repo, wanted))
    for name, (refs, with_reviewers, workflow) in ENVIRONMENTS.items():
        if not (WORKFLOWS / workflow).exists():
            continue

        def environment(name=name, refs=refs, with_reviewers=with_reviewers) -> bool:
            reviewers = [reviewer(owner) for owner in code_owners()] if with_reviewers else []
            return apply_environment(repo, name, refs, reviewers)

        report.attempt(f"environment {name}", environment)
    report.attempt("Actions may create pull requests", lambda: allow_actions_pull_requests(repo))
    report.print()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
