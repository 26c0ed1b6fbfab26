"""Event payloads for act: what a workflow sees as github.event (docs/act.md says which fields act reads)."""

from __future__ import annotations


def _repository(full_name: str) -> dict:
    owner, name = full_name.split("/")
    return {"full_name": full_name, "name": name, "owner": {"login": owner}, "default_branch": "main"}


def push_event(
    ref: str = "refs/heads/main", repository: str = "acme/demo", before: str | None = None
) -> dict:
    """A push; `before` is the previous tip (github.event.before), absent unless given."""
    return {"ref": ref, "repository": _repository(repository)} | ({"before": before} if before else {})


def tag_event(tag: str, repository: str = "acme/demo") -> dict:
    return push_event(f"refs/tags/{tag}", repository)


def pull_request_event(
    number: int = 1,
    head: str = "feature",
    base: str = "main",
    repository: str = "acme/demo",
    fork: bool = False,
) -> dict:
    head_repo = f"someone/{repository.split('/')[1]}" if fork else repository
    return {
        "number": number,
        "action": "synchronize",
        "repository": _repository(repository),
        "pull_request": {
            "number": number,
            "head": {"ref": head, "sha": "1" * 40, "repo": {"full_name": head_repo, "fork": fork}},
            "base": {"ref": base, "sha": "2" * 40, "repo": {"full_name": repository}},
        },
    }


def workflow_run_event(
    conclusion: str = "success",
    workflow: str = "ci",
    event: str = "pull_request",
    repository: str = "acme/demo",
    path: str | None = None,
    head_repository: str | None = None,
) -> dict:
    """A completed run of the workflow named `workflow`, from file `path` (.github/workflows/<name>.yml)."""
    return {
        "action": "completed",
        "repository": _repository(repository),
        "workflow_run": {
            "id": 4242,
            "name": workflow,
            "path": path or f".github/workflows/{workflow}.yml",
            "repository": _repository(repository),
            "head_repository": _repository(head_repository or repository),
            "event": event,
            "conclusion": conclusion,
            "head_branch": "feature",
            "head_sha": "1" * 40,
            "pull_requests": [{"number": 1}] if event == "pull_request" else [],
        },
    }


def dispatch_event(inputs: dict[str, str | bool], repository: str = "acme/demo") -> dict:
    """A workflow_dispatch; act fills `inputs` only from strings, so booleans become "true"/"false"."""
    values = {
        name: str(value).lower() if isinstance(value, bool) else value for name, value in inputs.items()
    }
    return {"inputs": values, "repository": _repository(repository)}


def schedule_event(cron: str = "0 3 * * 1", repository: str = "acme/demo") -> dict:
    return {"schedule": cron, "repository": _repository(repository)}
