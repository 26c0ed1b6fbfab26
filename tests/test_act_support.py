"""The act harness: a sample workflow, pinned by SHA like the generated ones, run under act on the host."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from harness.events import dispatch_event, pull_request_event, push_event, tag_event
from harness.runner import ActTimeout, act_binary, fake_image_digest, prepare_repo, run_act
from harness.workflows import ActError, drop_step, local_repository_flags, run_alone


@pytest.fixture(autouse=True)
def act_installed() -> None:
    """act comes with the dev environment: skip without it here, fail on CI."""
    act_binary()


def pin(repo: str) -> str:
    """A made-up 40-hex ref: the stubs answer whatever SHA the workflow pins."""
    return hashlib.sha1(repo.encode()).hexdigest()


def pinned(workflow: str) -> str:
    return re.sub(
        r"uses: ([\w-]+/[\w-]+)([\w/-]*)@pin", lambda m: f"uses: {m[1]}{m[2]}@{pin(m[1])}", workflow
    )


SAMPLE = pinned(
    textwrap.dedent(
        """\
        name: sample
        on:
          push:
            branches: [main]
            tags: ["v*"]
          pull_request:
          workflow_dispatch:
            inputs:
              fail-gate:
                type: boolean
                default: false
        permissions: {}
        jobs:
          build:
            runs-on: ubuntu-latest
            permissions:
              contents: read
            outputs:
              greeting: ${{ steps.report.outputs.greeting }}
            steps:
              - uses: actions/checkout@pin
                with:
                  persist-credentials: false
              - uses: astral-sh/setup-uv@pin
                with:
                  enable-cache: true
                  python-version: "3.12"
              - uses: actions/cache@pin
                with:
                  path: ~/.cache/sample
                  key: sample-${{ hashFiles('data/input.txt') }}
              - id: report
                run: |
                  mkdir -p out/plots
                  tr a-z A-Z < data/input.txt > out/report.txt
                  echo png > out/plots/roc.png
                  echo "greeting=$(cat out/report.txt)" >> "$GITHUB_OUTPUT"
                  echo "credentials=$(git config --get http.https://github.com/.extraheader || echo none)" \\
                    >> "$GITHUB_OUTPUT"
                  echo "ignored=$(test -e secret.txt && echo copied || echo absent)" >> "$GITHUB_OUTPUT"
                  echo "ref=${{ github.ref }} head=${{ github.head_ref }}" >> "$GITHUB_OUTPUT"
                  printf '## Report\\n\\n| metric | value |\\n|---|---|\\n| f1 | 0.9 |\\n' \\
                    >> "$GITHUB_STEP_SUMMARY"
              - uses: actions/upload-artifact@pin
                with:
                  name: report
                  path: out/
                  if-no-files-found: error
          check:
            needs: build
            runs-on: ubuntu-24.04
            steps:
              - uses: actions/download-artifact@pin
                with:
                  name: report
                  path: downloaded
              - run: test "$(cat downloaded/report.txt)" = "${{ needs.build.outputs.greeting }}"
          gate:
            runs-on: ubuntu-22.04
            steps:
              - env:
                  FAIL_GATE: ${{ inputs.fail-gate || vars.FAIL_GATE }}
                run: |
                  echo "the gate was asked to fail: ${FAIL_GATE:-false}" >> "$GITHUB_STEP_SUMMARY"
                  test "$FAIL_GATE" != true
          comment:
            needs: [build, gate]
            if: always() && github.event_name == 'pull_request'
            runs-on: ubuntu-latest
            permissions:
              pull-requests: write
            steps:
              - uses: actions/github-script@pin
                env:
                  GATE: ${{ needs.gate.result }}
                with:
                  script: |
                    const body = `gate: ${process.env.GATE}`;
                    await github.rest.issues.createComment({...context.repo, issue_number: 1, body});
          release:
            needs: build
            if: startsWith(github.ref, 'refs/tags/v')
            runs-on: ubuntu-latest
            permissions:
              contents: read
              packages: write
              id-token: write
              attestations: write
            steps:
              - uses: actions/checkout@pin
              - id: git
                run: |
                  header=$(git config --get http.https://github.com/.extraheader || echo none)
                  echo "credentials=$header" >> "$GITHUB_OUTPUT"
              - uses: docker/setup-buildx-action@pin
              - uses: docker/login-action@pin
                with:
                  registry: ghcr.io
                  username: ${{ github.actor }}
                  password: ${{ secrets.GITHUB_TOKEN }}
              - id: meta
                uses: docker/metadata-action@pin
                with:
                  images: ghcr.io/${{ github.repository }}
                  tags: |
                    type=semver,pattern={{version}}
                    type=sha
              - id: build
                uses: docker/build-push-action@pin
                with:
                  context: .
                  push: true
                  tags: ${{ steps.meta.outputs.tags }}
                  labels: ${{ steps.meta.outputs.labels }}
              - uses: sigstore/cosign-installer@pin
              - env:
                  DIGEST: ${{ steps.build.outputs.digest }}
                run: cosign sign --yes "ghcr.io/${GITHUB_REPOSITORY}@${DIGEST}"
              - uses: anchore/sbom-action@pin
                with:
                  image: ghcr.io/${{ github.repository }}@${{ steps.build.outputs.digest }}
                  output-file: sbom.spdx.json
              - uses: actions/attest-build-provenance@pin
                with:
                  subject-name: ghcr.io/${{ github.repository }}
                  subject-digest: ${{ steps.build.outputs.digest }}
                  push-to-registry: true
              - uses: actions/upload-artifact@pin
                with:
                  name: sbom
                  path: sbom.spdx.json
              - env:
                  GH_TOKEN: ${{ github.token }}
                  TAG: ${{ github.ref_name }}
                run: gh release create "$TAG" sbom.spdx.json --title "$TAG" --verify-tag
        """
    )
)


def write_project(root: Path, workflow: str = SAMPLE, name: str = "sample.yml") -> Path:
    """A tiny project: one data file, one ignored file, the workflow; committed with a github.com origin."""
    (root / ".github/workflows").mkdir(parents=True)
    (root / ".github/workflows" / name).write_text(workflow)
    (root / "data").mkdir()
    (root / "data/input.txt").write_text("hello act\n")
    (root / ".gitignore").write_text("secret.txt\n")
    (root / "secret.txt").write_text("must not reach the workspace\n")
    prepare_repo(root, "acme/demo")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return write_project(tmp_path_factory.mktemp("act-sample"))


@pytest.fixture(scope="module")
def push_run(project, tmp_path_factory):
    return run_act(
        project, "sample.yml", "push", push_event(), run_dir=tmp_path_factory.mktemp("push"), timeout=120
    )


@pytest.fixture(scope="module")
def failing_pr_run(project, tmp_path_factory):
    return run_act(
        project,
        "sample.yml",
        "pull_request",
        pull_request_event(number=7),
        variables={"FAIL_GATE": "true"},
        run_dir=tmp_path_factory.mktemp("pr"),
        timeout=120,
    )


@pytest.fixture(scope="module")
def tag_run(project, tmp_path_factory):
    return run_act(
        project,
        "sample.yml",
        "push",
        tag_event("v1.2.3"),
        shims={"gh": ""},
        run_dir=tmp_path_factory.mktemp("tag"),
        timeout=120,
    )


def test_push_runs_build_check_and_gate_and_skips_the_rest(push_run):
    assert push_run.returncode == 0, push_run
    assert push_run.jobs == {
        "build": "success",
        "check": "success",
        "gate": "success",
        "comment": "skipped",
        "release": "skipped",
    }, push_run


def test_checkout_stub_copies_the_project_as_act_would_and_honours_persist_credentials(push_run, tag_run):
    checkout = push_run.call("actions/checkout", job="build")
    assert checkout["inputs"]["persist-credentials"] == "false"
    assert checkout["inputs"]["repository"] == "acme/demo"
    assert push_run.outputs["build"]["report"]["credentials"] == "none"
    assert tag_run.outputs["release"]["git"]["credentials"].startswith("AUTHORIZATION: basic ")


def test_stubs_record_setup_uv_and_cache_inputs(push_run, project):
    uv = push_run.call("astral-sh/setup-uv")["inputs"]
    assert (uv["enable-cache"], uv["python-version"]) == ("true", "3.12")
    cache = push_run.call("actions/cache")["inputs"]
    file_digest = hashlib.sha256((project / "data/input.txt").read_bytes()).digest()
    # hashFiles works once a checkout has filled the workspace: sha256 over each file's sha256.
    assert cache["key"] == "sample-" + hashlib.sha256(file_digest).hexdigest()
    assert cache["path"] == "~/.cache/sample"


def test_artifact_is_uploaded_downloaded_and_readable_by_the_test(push_run):
    report = push_run.artifacts / "report"
    assert sorted(p.relative_to(report).as_posix() for p in report.rglob("*") if p.is_file()) == [
        "plots/roc.png",
        "report.txt",
    ]
    assert (report / "report.txt").read_text() == "HELLO ACT\n"
    assert push_run.call("actions/download-artifact", job="check")["inputs"]["name"] == "report"
    assert push_run.outputs["build"]["report"]["greeting"] == "HELLO ACT"


def test_step_summary_is_captured_per_job(push_run):
    assert push_run.summaries["build"] == "## Report\n\n| metric | value |\n|---|---|\n| f1 | 0.9 |\n"
    assert push_run.summaries["gate"] == "the gate was asked to fail: false\n"


def test_the_event_payload_sets_the_github_context(push_run, failing_pr_run, tag_run):
    assert push_run.outputs["build"]["report"]["ref"] == "refs/heads/main head="
    assert failing_pr_run.outputs["build"]["report"]["ref"] == "refs/pull/7/merge head=feature"
    assert tag_run.outputs["build"]["report"]["ref"] == "refs/tags/v1.2.3 head="


def test_files_git_ignores_stay_out_of_the_workspace(push_run):
    assert push_run.outputs["build"]["report"]["ignored"] == "absent"


def test_a_variable_fails_the_gate_and_always_still_reports(failing_pr_run):
    assert failing_pr_run.returncode == 1, failing_pr_run
    assert failing_pr_run.jobs["gate"] == "failure", failing_pr_run
    assert failing_pr_run.jobs["build"] == failing_pr_run.jobs["check"] == "success", failing_pr_run
    assert failing_pr_run.jobs["release"] == "skipped"
    assert failing_pr_run.jobs["comment"] == "success", failing_pr_run
    # A summary survives a step that fails at once; act can drop that step's stdout (a race in act).
    assert failing_pr_run.summaries["gate"] == "the gate was asked to fail: true\n"
    comment = failing_pr_run.call("actions/github-script", job="comment")
    assert comment["script_length"] > 50
    assert "script" not in comment["inputs"]
    assert comment["inputs"]["github-token"].startswith("ghs_")


def test_a_dispatch_input_fails_the_one_job_selected(project, tmp_path):
    run = run_act(
        project,
        "sample.yml",
        "workflow_dispatch",
        dispatch_event({"fail-gate": True}),
        job="gate",
        run_dir=tmp_path,
    )
    assert run.returncode == 1, run
    assert run.jobs == {
        "gate": "failure",
        "build": "skipped",
        "check": "skipped",
        "comment": "skipped",
        "release": "skipped",
    }, run
    assert run.summaries["gate"] == "the gate was asked to fail: true\n"
    assert run.stub_calls == []


def test_tag_push_digest_flows_from_build_into_signature_and_attestation(tag_run, project):
    assert tag_run.jobs["release"] == "success", tag_run
    tags = tag_run.call("docker/build-push-action")["inputs"]["tags"].split("\n")
    head = subprocess.check_output(["git", "-C", str(project), "rev-parse", "HEAD"], text=True).strip()
    image = "ghcr.io/acme/demo"
    assert tags == [f"{image}:1.2.3", f"{image}:sha-{head[:7]}", f"{image}:latest"]
    digest = fake_image_digest(tags)
    assert tag_run.outputs["release"]["build"]["digest"] == digest
    attest = tag_run.call("actions/attest-build-provenance")["inputs"]
    assert (attest["subject-name"], attest["subject-digest"]) == ("ghcr.io/acme/demo", digest)
    assert tag_run.call("cosign")["argv"] == ["sign", "--yes", f"ghcr.io/acme/demo@{digest}"]
    login = tag_run.call("docker/login-action")["inputs"]
    assert (login["registry"], login["username"]) == ("ghcr.io", "octocat")
    sbom = json.loads((tag_run.artifacts / "sbom/sbom.spdx.json").read_text())
    assert (sbom["spdxVersion"], sbom["packages"]) == ("SPDX-2.3", [])


def test_a_shim_records_a_cli_the_workflow_calls(tag_run):
    release = tag_run.call("gh", job="release")
    assert release["argv"] == [
        "release",
        "create",
        "v1.2.3",
        "sbom.spdx.json",
        "--title",
        "v1.2.3",
        "--verify-tag",
    ]


def test_run_alone_drops_only_the_jobs_needs(tmp_path):
    (tmp_path / ".github/workflows").mkdir(parents=True)
    path = tmp_path / ".github/workflows/sample.yml"
    path.write_text(SAMPLE)
    before = yaml.safe_load(SAMPLE)["jobs"]
    run_alone(tmp_path, "sample.yml", "comment")
    after = yaml.safe_load(path.read_text())["jobs"]
    assert "needs" not in after["comment"]
    assert after["comment"] == {key: value for key, value in before["comment"].items() if key != "needs"}
    assert {name: job for name, job in after.items() if name != "comment"} == {
        name: job for name, job in before.items() if name != "comment"
    }
    with pytest.raises(AssertionError, match="job build has no one-line `needs:`"):
        run_alone(tmp_path, "sample.yml", "build")


def test_drop_step_removes_only_that_step_of_that_job(tmp_path):
    workflow = textwrap.dedent(
        """\
        on: push
        jobs:
          gate:
            runs-on: ubuntu-latest
            steps:
              - run: make train
              - name: Tests
                run: |
                  make test

                  make more
                env:
                  A: "1"
              - name: Gate
                run: make gate

          other:
            runs-on: ubuntu-latest
            steps:
              - name: Tests
                run: make test
        """
    )
    (tmp_path / ".github/workflows").mkdir(parents=True)
    path = tmp_path / ".github/workflows/sample.yml"
    path.write_text(workflow)
    drop_step(tmp_path, "sample.yml", "gate", "Tests")
    after, before = yaml.safe_load(path.read_text())["jobs"], yaml.safe_load(workflow)["jobs"]
    assert after["gate"]["steps"] == [before["gate"]["steps"][0], before["gate"]["steps"][2]]
    assert after["other"] == before["other"]
    assert "make gate\n\n  other:" in path.read_text(), "the blank line between jobs stays"
    with pytest.raises(AssertionError, match="job gate has 0 steps named 'Tests'"):
        drop_step(tmp_path, "sample.yml", "gate", "Tests")


def test_a_missing_stub_fails_clearly_before_act_runs(tmp_path):
    workflow = SAMPLE.replace("actions/cache@", "acme/unknown-cache@")
    project = write_project(tmp_path, workflow)
    with pytest.raises(ActError, match=r"no stub for acme/unknown-cache"):
        run_act(project, "sample.yml", "push", push_event(), run_dir=tmp_path / "run", timeout=30)


def test_an_input_the_stub_does_not_declare_fails_clearly(tmp_path):
    workflow = SAMPLE.replace("if-no-files-found: error", "if-no-files-found: error\n          colour: blue")
    project = write_project(tmp_path, workflow)
    with pytest.raises(ActError, match=r"upload-artifact: the stub does not declare input\(s\) \['colour'\]"):
        local_repository_flags(project, project / ".github/workflows/sample.yml")


def test_explicit_refs_must_match_the_workflow(project):
    flags = local_repository_flags(project, project / ".github/workflows/sample.yml")
    assert f"--local-repository=actions/checkout@{pin('actions/checkout')}=" in "\n".join(flags)
    with pytest.raises(ActError, match=r"checkout@\w+ is used but `actions` maps actions/checkout to v4"):
        local_repository_flags(project, project / ".github/workflows/sample.yml", {"actions/checkout": "v4"})


def test_a_runner_host_mode_cannot_stand_in_for_is_refused(tmp_path):
    project = write_project(tmp_path, SAMPLE.replace("runs-on: ubuntu-22.04", "runs-on: macos-latest"))
    with pytest.raises(ActError, match=r"job gate runs on \['macos-latest'\]"):
        run_act(project, "sample.yml", "push", push_event(), run_dir=tmp_path / "run", timeout=30)


def test_a_project_without_a_commit_is_refused(tmp_path):
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/sample.yml").write_text(SAMPLE)
    with pytest.raises(ActError, match="has no commit"):
        run_act(tmp_path, "sample.yml", "push", push_event(), run_dir=tmp_path / "run", timeout=30)


def test_a_run_past_its_timeout_is_killed_with_its_steps(tmp_path):
    workflow = "on: push\njobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sleep 120\n"
    project = write_project(tmp_path / "p", workflow, "slow.yml")
    with pytest.raises(ActTimeout, match="did not finish within 3"):
        run_act(project, "slow.yml", "push", push_event(), run_dir=tmp_path / "run", timeout=3)
    marker = f"ACT_STUB_LOG={tmp_path / 'run' / 'stub-log.jsonl'}".encode()
    survivors = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes() and int(environ.parent.name) != os.getpid():
                survivors.append(environ.parent.name)
        except OSError:
            continue
    assert survivors == []


CALLER = pinned(
    textwrap.dedent(
        """\
        on: push
        jobs:
          image:
            name: Build the image
            uses: ./.github/workflows/image.yml
            with:
              version: 1.2.3
          deploy:
            needs: image
            runs-on: ubuntu-latest
            steps:
              - run: echo "deploying ${{ needs.image.outputs.digest }}"
        """
    )
)
CALLED = pinned(
    textwrap.dedent(
        """\
        on:
          workflow_call:
            inputs:
              version:
                type: string
                required: true
            outputs:
              digest:
                value: ${{ jobs.build.outputs.digest }}
        jobs:
          build:
            runs-on: ubuntu-latest
            outputs:
              digest: ${{ steps.build.outputs.digest }}
            steps:
              - id: build
                uses: docker/build-push-action@pin
                with:
                  tags: ghcr.io/acme/demo:${{ inputs.version }}
        """
    )
)


def test_a_reusable_workflow_is_stubbed_and_keyed_under_its_caller(tmp_path):
    project = write_project(tmp_path / "p", CALLER, "deploy.yml")
    (project / ".github/workflows/image.yml").write_text(CALLED)
    prepare_repo(project)
    run = run_act(project, "deploy.yml", "push", push_event(), run_dir=tmp_path / "run", timeout=60)
    assert run.jobs == {"image/build": "success", "image": "success", "deploy": "success"}, run
    digest = fake_image_digest(["ghcr.io/acme/demo:1.2.3"])
    assert run.outputs["image/build"]["build"]["digest"] == digest
    assert f"deploying {digest}" in run.log
