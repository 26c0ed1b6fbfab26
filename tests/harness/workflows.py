"""What a generated workflow needs of act: the remote actions it uses (followed through local actions and
reusable workflows), their stubs in tests/act/stubs, the runners it asks for, and the two newer workflow
features act does not read yet (docs/act.md)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

STUBS = Path(__file__).resolve().parents[1] / "act" / "stubs"
RUNNER_LABELS = ("ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04")
REMOTE_USES = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?P<sub>/[^@]+)?@(?P<ref>.+)$")


class ActError(RuntimeError):
    """The run could not be set up: a missing stub or input, a project act cannot read."""


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


def run_alone(project: Path, workflow: str, job: str) -> None:
    """Drop `job`'s `needs:` from `workflow` in place, so that act runs that job alone (act runs every job
    a selected job needs first). For a test whose subject is one job; the jobs dropped are run by tests
    of their own."""
    path = project / ".github/workflows" / workflow
    text, count = re.subn(
        rf"(\n  {re.escape(job)}:\n(?:    .*\n|\s*\n)*?)    needs: .*\n", r"\1", path.read_text(), count=1
    )
    assert count == 1, f"{workflow}: job {job} has no one-line `needs:`"
    path.write_text(text)


# ci.yml's model-gate ends with `make test` on the trained model; only test_ci_passes_on_a_pull_request runs
# it under act, and every lifecycle bake runs `make test` on its trained model.
MODEL_TESTS_STEP = "Model-quality and service tests on the trained model"


def drop_step(project: Path, workflow: str, job: str, name: str) -> None:
    """Remove the step named `name` from `job` in `workflow`, in place: for a test whose subject is the
    job's other steps, when another test runs that step under act (see where it is called)."""
    path = project / ".github/workflows" / workflow
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index(f"  {job}:\n")
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"  \S", lines[i])), len(lines))
    found = [i for i in range(start, end) if re.fullmatch(rf"( *)- name: {re.escape(name)}\n", lines[i])]
    assert len(found) == 1, f"{workflow}: job {job} has {len(found)} steps named {name!r}"
    first = found[0]
    inside = " " * (len(lines[first]) - len(lines[first].lstrip()) + 1)  # deeper than the step's dash
    last = first + 1
    while last < end and (lines[last].startswith(inside) or not lines[last].strip()):
        last += 1
    while not lines[last - 1].strip():  # keep the blank lines that part it from what follows
        last -= 1
    path.write_text("".join(lines[:first] + lines[last:]))


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


def check_runners(workflow: Path) -> None:
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


def jobs_of(workflow: Path) -> tuple[list[str], dict[str, str]]:
    """The workflow's job ids, and the jobs that call a reusable workflow by name -> id."""
    jobs = (yaml.safe_load(workflow.read_text()) or {}).get("jobs") or {}
    callers = {str(job.get("name", job_id)): job_id for job_id, job in jobs.items() if "uses" in job}
    return list(jobs), callers
