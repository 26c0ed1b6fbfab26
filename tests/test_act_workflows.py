"""The generated workflows run under act on a baked project, every remote action a recording stub.

ci.yml passes on a pull request and its model-gate fails on one that makes the model clearly worse;
release.yml runs on a tag up to the registry and GitHub, whose stubs record what they were given;
deploy-production.yml then moves the production overlay to the released digest. retrain.yml's pull
request gets its checks (ci dispatched on its branch, or pushed with a GitHub App token), and that
dispatched ci gates against main; a tag outside main releases nothing; deploy-production ignores a run
of any other workflow that happens to be named `release`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.bakes import make
from harness.events import dispatch_event, pull_request_event, tag_event, workflow_run_event
from harness.runner import FAKE_GITHUB_TOKEN, fake_image_digest, prepare_repo, run_act
from harness.servers import mlflow_server
from harness.tools import check, run
from harness.workflows import MODEL_TESTS_STEP, adapt_for_act, drop_step

pytestmark = pytest.mark.lifecycle

REPOSITORY = "acme/demo"
IMAGE = f"ghcr.io/{REPOSITORY}"
GIT = shutil.which("git")
# gh would reach GitHub: record the call, answer "no open pull request" to `gh pr view`.
GH_SHIM = 'if [ "$1 $2" = "pr view" ]; then exit 1; fi'
# The release's gh also keeps the release.json asset it was given, to compare with what rollback reads.
RELEASE_GH_SHIM = GH_SHIM + '\nif [ "$1 $2" = "release create" ]; then cp release.json "$ACT_ARTIFACTS/"; fi'
# git push would reach GitHub: keep what would have been pushed, run every other git command.
OVERLAYS = "deploy/k8s/overlays"
GIT_SHIM = f"""
case " $* " in
  *" push "*) for overlay in staging production; do
                {GIT} show HEAD:{OVERLAYS}/$overlay/kustomization.yaml > "$ACT_ARTIFACTS/pushed-$overlay.yaml"
              done
              {GIT} log -1 --format=%s > "$ACT_ARTIFACTS/pushed-subject.txt"
              printf '%s\\n' "${{@: -1}}" > "$ACT_ARTIFACTS/pushed-refspec.txt"; exit 0;;
esac
exec {GIT} "$@"
"""


def git(project: Path, *args: str) -> str:
    result = run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], project)
    assert result.returncode == 0, str(result)
    return result.output


@pytest.fixture(scope="module")
def project(trained_bake) -> Path:
    """A default bake, trained and committed on main: main's metrics are the baseline."""
    project = trained_bake("default", own=True)
    adapt_for_act(project)
    prepare_repo(project, REPOSITORY)
    git(project, "update-ref", "refs/remotes/origin/main", "HEAD")
    return project


@pytest.fixture(scope="module")
def runner_env(shared_env, tmp_path_factory) -> dict[str, str]:
    """The runner's environment: the shared installed environment, a private BentoML home."""
    return shared_env | {"BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml-home"))}


def test_ci_passes_on_a_pull_request(project, runner_env, tmp_path):
    git(project, "switch", "--quiet", "-c", "docs-change", "main")
    (project / "README.md").write_text((project / "README.md").read_text() + "\nA line of docs.\n")
    git(project, "commit", "--quiet", "-am", "Docs only")
    # A tracking server nobody listens on: a pull request must track to its throwaway SQLite file instead.
    ci = run_act(
        project, "ci.yml", "pull_request", pull_request_event(7, head="docs-change", repository=REPOSITORY),
        env=runner_env, concurrent_jobs=1, run_dir=tmp_path, timeout=900,
        variables={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert ci.jobs == {
        "lint": "success", "test": "success", "audit": "success", "model-gate": "success", "build": "success",
    }, str(ci)  # fmt: skip
    audited = ci.call("pypa/gh-action-pip-audit")["inputs"]
    assert (audited["inputs"], audited["require-hashes"], audited["no-deps"]) == (
        "build/audit/requirements.txt", "true", "true",
    )  # fmt: skip
    report = (ci.artifacts / "model-report/reports/gate.md").read_text()
    assert report.startswith("## Model quality gate: PASS")
    assert "| accuracy (higher is better) |" in report
    assert (ci.artifacts / "model-report/reports/pr-number.txt").read_text().strip() == "7"
    assert "Model quality gate: PASS" in ci.summaries.get("model-gate", "")
    print(f"\nact ci.yml (pull request, all four jobs): {ci.seconds:.1f} s")


def test_model_gate_fails_when_the_model_is_clearly_worse(project, runner_env, tmp_path):
    git(project, "switch", "--quiet", "-c", "worse-model", "main")
    params = project / "params.yaml"
    params.write_text(
        params.read_text()
        .replace("n_estimators: 100", "n_estimators: 1")
        .replace("max_depth: null", "max_depth: 1")
        .replace("min_samples_leaf: 1", "min_samples_leaf: 150")
    )
    git(project, "commit", "--quiet", "-am", "A much weaker forest")
    ci = run_act(
        project, "ci.yml", "pull_request", pull_request_event(8, head="worse-model", repository=REPOSITORY),
        job="model-gate", env=runner_env, concurrent_jobs=1, run_dir=tmp_path, timeout=900,
    )  # fmt: skip
    assert ci.jobs.get("model-gate") == "failure", str(ci)
    report = (ci.artifacts / "model-report/reports/gate.md").read_text()
    assert report.startswith("## Model quality gate: FAIL")
    assert "roc_auc" in report.split("Failed:")[1], report
    assert "dropped from" in report, "the report compares with main's committed metrics"


def test_release_builds_signs_attests_publishes_and_promotes(project, runner_env, tmp_path_factory):
    git(project, "switch", "--quiet", "main")
    run_dir = tmp_path_factory.mktemp("act-release")
    tracking = run_dir / "mlflow.db"
    release = run_act(
        project, "release.yml", "push", tag_event("v1.2.3", REPOSITORY),
        env=runner_env, variables={"MLFLOW_TRACKING_URI": f"sqlite:///{tracking}"},
        shims={"gh": RELEASE_GH_SHIM}, concurrent_jobs=1, run_dir=run_dir, timeout=900,
    )  # fmt: skip
    assert release.returncode == 0, str(release)
    assert set(release.jobs.values()) == {"success"}, release.jobs
    digest = fake_image_digest([f"{IMAGE}:v1.2.3"])

    built = release.call("docker/build-push-action")["inputs"]
    assert (built["tags"].strip(), built["push"]) == (f"{IMAGE}:v1.2.3", "true")
    assert built["context"].endswith("/bentos/my-ml-project/v1.2.3")
    assert built["file"] == built["context"] + "/env/docker/Dockerfile"
    attested = release.call("actions/attest-build-provenance")["inputs"]
    assert (attested["subject-name"], attested["subject-digest"]) == (IMAGE, digest)
    assert release.call("anchore/sbom-action")["inputs"]["image"] == f"{IMAGE}@{digest}"
    scanned = release.call("anchore/scan-action")["inputs"]
    assert scanned["image"] == f"{IMAGE}@{digest}"
    verdict = (scanned["severity-cutoff"], scanned["only-fixed"], scanned["fail-build"])
    assert verdict == ("critical", "true", "true"), "fails on fixable critical findings"
    assert release.call("cosign")["argv"] == ["sign", "--yes", f"{IMAGE}@{digest}"]
    published = release.call("gh")["argv"]
    assert published[:3] == ["release", "create", "v1.2.3"]
    assert {"MODEL_CARD.md", "reports/metrics.json", "sbom.spdx.json", "release.json"} <= set(published)
    assert (release.artifacts / "image-ref/image-ref.txt").read_text().strip() == f"{IMAGE}@{digest}"
    # The asset `make rollback TAG=v1.2.3` reads back: the tag, the image digest and the commit.
    asset = json.loads((release.artifacts / "release.json").read_text())
    assert asset == {
        "tag": "v1.2.3",
        "image": f"{IMAGE}@{digest}",
        "commit": git(project, "rev-parse", "HEAD").strip(),
    }

    with sqlite3.connect(tracking) as db:
        aliases = dict(db.execute("SELECT alias, version FROM registered_model_aliases").fetchall())
        tags = dict(
            db.execute(
                "SELECT key, value FROM model_version_tags WHERE version = ?", (aliases["production"],)
            )
        )
    assert "production" in aliases, "the release set MLflow alias production"
    # ...on the model version it tagged with the release and its image (what rollback looks up).
    assert {tags["release.tag"], tags["release.image"]} == {"v1.2.3", f"{IMAGE}@{digest}"}


def deploy_production(project: Path, runner_env: dict, event: dict, run_dir: Path):
    """deploy-production.yml on a workflow_run event, gh and git recording what they were asked."""
    return run_act(
        project, "deploy-production.yml", "workflow_run", event,
        env=runner_env, shims={"gh": GH_SHIM, "git": GIT_SHIM}, run_dir=run_dir, timeout=600,
    )  # fmt: skip


def test_deploy_production_proposes_the_released_digest(project, runner_env, tmp_path_factory):
    release_dir = next(tmp_path_factory.getbasetemp().glob("act-release*"))
    run_dir = tmp_path_factory.mktemp("act-deploy")
    shutil.copytree(release_dir / "artifacts", run_dir / "artifacts")
    event = workflow_run_event(workflow="release", event="push", repository=REPOSITORY)
    event["workflow_run"]["head_branch"] = "v1.2.3"
    deploy = deploy_production(project, runner_env, event, run_dir)
    assert deploy.jobs == {"propose": "success"}, str(deploy)
    overlay = (deploy.artifacts / "pushed-production.yaml").read_text()
    digest = fake_image_digest([f"{IMAGE}:v1.2.3"])
    assert f"newName: {IMAGE}" in overlay
    assert f"digest: {digest}" in overlay
    assert (deploy.artifacts / "pushed-subject.txt").read_text().strip() == "Deploy v1.2.3 to production"
    created = [call["argv"] for call in deploy.calls("gh") if call["argv"][:2] == ["pr", "create"]]
    assert created, deploy.calls("gh")
    assert "deploy/production-v1.2.3" in created[0]
    dispatched = deploy.calls("gh")[-1]["argv"]
    assert dispatched == ["workflow", "run", "ci.yml", "--ref", "deploy/production-v1.2.3"]
    print(json.dumps({"deploy_seconds": round(deploy.seconds, 1)}))


def test_deploy_staging_pushes_a_sha_image_and_moves_the_staging_branch_to_its_digest(
    project, runner_env, tmp_path
):
    git(project, "switch", "--quiet", "main")
    event = workflow_run_event(workflow="ci", event="push", repository=REPOSITORY)
    event["workflow_run"]["head_branch"] = "main"
    staging = run_act(
        project, "deploy-staging.yml", "workflow_run", event,
        env=runner_env, shims={"gh": GH_SHIM, "git": GIT_SHIM}, concurrent_jobs=1, run_dir=tmp_path,
        timeout=900,
    )  # fmt: skip
    assert set(staging.jobs.values()) == {"success"}, str(staging)
    version = "sha-" + event["workflow_run"]["head_sha"][:7]
    assert staging.call("docker/build-push-action")["inputs"]["tags"].strip() == f"{IMAGE}:{version}"
    assert staging.call("cosign")["argv"][-1] == f"{IMAGE}@{fake_image_digest([f'{IMAGE}:{version}'])}"
    overlay = (staging.artifacts / "pushed-staging.yaml").read_text()
    assert f"newName: {IMAGE}" in overlay
    # By the digest of the image it pushed, not by the movable sha-<commit> tag.
    assert f"digest: {fake_image_digest([f'{IMAGE}:{version}'])}" in overlay
    assert "newTag:" not in overlay
    assert (staging.artifacts / "pushed-refspec.txt").read_text().strip() == "HEAD:refs/heads/deploy/staging"


# gh for retrain: record which token it was given, answer "no open pull request" to `gh pr view`.
GH_TOKEN_SHIM = 'printf "%s\\n" "${GH_TOKEN:-}" >> "$ACT_ARTIFACTS/gh-tokens.txt"; ' + GH_SHIM
# git push for retrain: keep the arguments (the push URL carries the token), push nothing.
GIT_PUSH_SHIM = f"""
case " $* " in
  *" push "*) printf '%s\\n' "$*" >> "$ACT_ARTIFACTS/git-push.txt"; exit 0;;
esac
exec {GIT} "$@"
"""
APP_TOKEN = "ghs_actStubAppToken00000000000000000"


def retrain(project: Path, runner_env: dict, run_dir: Path, **options) -> object:
    """retrain.yml on a commit whose params differ from main's, so that it has something to propose."""
    git(project, "switch", "--quiet", "-C", "retrain-source", "main")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("n_estimators: 100", "n_estimators: 80"))
    git(project, "commit", "--quiet", "-am", "A slightly smaller forest")
    return run_act(
        project, "retrain.yml", "workflow_dispatch", dispatch_event({}, REPOSITORY),
        env=runner_env, shims={"gh": GH_TOKEN_SHIM, "git": GIT_PUSH_SHIM}, run_dir=run_dir, timeout=900,
        **options,
    )  # fmt: skip


def test_retrain_dispatches_ci_on_its_branch_after_opening_the_pull_request(project, runner_env, tmp_path):
    """Without a GitHub App, the pull request's checks come from ci dispatched on retrain/weekly: a pull
    request opened with GITHUB_TOKEN starts no workflow by itself."""
    run = retrain(project, runner_env, tmp_path)
    assert run.jobs == {"retrain": "success"}, str(run)
    calls = [call["argv"] for call in run.calls("gh")]
    assert calls[-1] == ["workflow", "run", "ci.yml", "--ref", "retrain/weekly"], calls
    assert any(argv[:2] == ["pr", "create"] for argv in calls[:-1]), calls
    assert not run.calls("actions/create-github-app-token")
    tokens = set((run.artifacts / "gh-tokens.txt").read_text().split())
    assert tokens == {FAKE_GITHUB_TOKEN}
    assert "HEAD:refs/heads/retrain/weekly" in (run.artifacts / "git-push.txt").read_text()


def test_retrain_with_a_github_app_pushes_and_opens_its_pull_request_as_it(project, runner_env, tmp_path):
    """With CI_APP_CLIENT_ID and its key, the App's token pushes and opens the pull request, which starts
    ci like a person's would; nothing is dispatched."""
    run = retrain(
        project, runner_env, tmp_path,
        variables={"CI_APP_CLIENT_ID": "Iv23liActStub"}, secrets={"CI_APP_PRIVATE_KEY": "a-private-key"},
    )  # fmt: skip
    assert run.jobs == {"retrain": "success"}, str(run)
    minted = run.call("actions/create-github-app-token")["inputs"]
    assert (minted["client-id"], minted["private-key"]) == ("Iv23liActStub", len("a-private-key"))
    calls = [call["argv"] for call in run.calls("gh")]
    assert any(argv[:2] == ["pr", "create"] for argv in calls), calls
    assert not [argv for argv in calls if argv[:2] == ["workflow", "run"]], calls
    assert set((run.artifacts / "gh-tokens.txt").read_text().split()) == {APP_TOKEN}
    assert f"x-access-token:{APP_TOKEN}@" in (run.artifacts / "git-push.txt").read_text()


def test_ci_dispatched_on_a_workflow_branch_gates_against_main(project, runner_env, tmp_path):
    """The dispatched run's baseline is main's committed metrics, not the branch's previous commit: here
    that commit claims a perfect model, so any other baseline would fail the gate. The branch drops the
    job's last step, `make test` on the trained model, which the pull-request run above runs."""
    branch = "retrain/weekly"
    git(project, "switch", "--quiet", "-C", branch, "main")
    metrics = project / "reports/metrics.json"
    mains = json.loads(metrics.read_text())
    metrics.write_text(json.dumps(dict.fromkeys(("accuracy", "f1", "roc_auc"), 1.0)) + "\n")
    git(project, "commit", "--quiet", "-am", "Metrics no model reaches")
    (project / "README.md").write_text((project / "README.md").read_text() + "\nRetrained.\n")
    drop_step(project, "ci.yml", "model-gate", MODEL_TESTS_STEP)
    git(project, "commit", "--quiet", "-am", "A second commit on the branch")
    event = dispatch_event({}, REPOSITORY) | {"ref": f"refs/heads/{branch}"}
    ci = run_act(
        project, "ci.yml", "workflow_dispatch", event,
        job="model-gate", env=runner_env, concurrent_jobs=1, run_dir=tmp_path, timeout=900,
    )  # fmt: skip
    git(project, "switch", "--quiet", "main")
    assert ci.jobs.get("model-gate") == "success", str(ci)
    baseline = json.loads((ci.artifacts / "model-report/reports/baseline.json").read_text())
    assert baseline == mains
    report = (ci.artifacts / "model-report/reports/gate.md").read_text()
    assert report.startswith("## Model quality gate: PASS"), report


def test_release_refuses_a_tag_whose_commit_main_does_not_contain(project, runner_env, tmp_path):
    git(project, "switch", "--quiet", "-C", "side", "main")
    (project / "README.md").write_text((project / "README.md").read_text() + "\nNot reviewed.\n")
    git(project, "commit", "--quiet", "-am", "Straight to a tag")
    commit = git(project, "rev-parse", "HEAD").strip()
    release = run_act(
        project, "release.yml", "push", tag_event("v9.9.9", REPOSITORY),
        env=runner_env, shims={"gh": GH_SHIM}, run_dir=tmp_path, timeout=300,
    )  # fmt: skip
    git(project, "switch", "--quiet", "main")
    assert release.returncode != 0
    assert release.jobs["on-main"] == "failure", str(release)
    assert {release.jobs[job] for job in ("gate", "image", "publish")} == {"skipped"}, release.jobs
    refusal = f"tag v9.9.9 points at commit {commit}, which main does not contain"
    assert refusal in release.summaries["on-main"]
    assert not release.calls("gh")
    assert not release.calls("docker/build-push-action")


@pytest.mark.parametrize(
    "change",
    [{"path": ".github/workflows/release-notes.yml"}, {"head_repository": "someone/demo"}],
    ids=["another-workflow-named-release", "a-fork"],
)
def test_deploy_production_ignores_a_release_run_it_did_not_come_from(project, runner_env, tmp_path, change):
    event = workflow_run_event(workflow="release", event="push", repository=REPOSITORY, **change)
    event["workflow_run"]["head_branch"] = "v6.6.6"
    deploy = deploy_production(project, runner_env, event, tmp_path)
    assert deploy.jobs == {"propose": "skipped"}, str(deploy)
    assert deploy.stub_calls == []
    assert not (deploy.artifacts / "pushed-production.yaml").exists()


@pytest.mark.parametrize("finding", ["", "numpy"], ids=["clean", "a-vulnerable-package"])
def test_ci_audits_every_locked_package_with_hashes(project, runner_env, tmp_path, finding):
    """`make audit-requirements` exports uv.lock (every group, hashes) for pip-audit; the stub checks that
    file as pip-audit would read it and, told that a locked package is vulnerable, fails the job."""
    git(project, "switch", "--quiet", "main")
    ci = run_act(
        project, "ci.yml", "pull_request", pull_request_event(9, head="main", repository=REPOSITORY),
        job="audit", env=runner_env | {"ACT_AUDIT_FINDING": finding}, run_dir=tmp_path, timeout=300,
    )  # fmt: skip
    assert ci.jobs["audit"] == ("failure" if finding else "success"), str(ci)
    assert ci.call("pypa/gh-action-pip-audit")["inputs"]["inputs"] == "build/audit/requirements.txt"
    if not finding:
        assert "no known vulnerability" in ci.summaries["audit"]


# --- rollback (issue 10) ------------------------------------------------------------------------------


def rollback_gh_shim(releases: Path) -> str:
    """gh for rollback: `release download TAG ... --output FILE` serves releases/TAG/release.json."""
    return (
        GH_SHIM
        + f"""
if [ "$1 $2" = "release download" ]; then
  tag="$3"; out=""; shift 3
  while [ $# -gt 0 ]; do [ "$1" = "--output" ] && out="$2"; shift; done
  cp "{releases}/$tag/release.json" "$out" || exit 1
fi
"""
    )


def production_alias(server: str) -> str:
    query = urllib.parse.urlencode({"name": "my-ml-project", "alias": "production"})
    with urllib.request.urlopen(
        f"{server}/api/2.0/mlflow/registered-models/alias?{query}", timeout=30
    ) as answer:
        return json.load(answer)["model_version"]["version"]


@pytest.fixture(scope="module")
def tracking_server(shared_env, tmp_path_factory) -> Iterator[str]:
    mlflow = Path(shared_env["UV_PROJECT_ENVIRONMENT"]) / "bin/mlflow"
    with mlflow_server(mlflow, tmp_path_factory.mktemp("mlflow-rollback")) as server:
        yield server.url


@pytest.fixture(scope="module")
def two_releases(
    project, runner_env, tracking_server, tmp_path_factory
) -> tuple[Path, dict[str, tuple[str, str]]]:
    """Releases v1.0.0 then v1.1.0 as release.yml records them: a model version each on the real server
    (alias production, tags release.tag / release.image, by `make release-model`) and a release.json
    asset each. Returns the assets' folder and tag -> (image, model version)."""
    git(project, "switch", "--quiet", "main")
    releases = tmp_path_factory.mktemp("releases")
    env = runner_env | {"MLFLOW_TRACKING_URI": tracking_server}
    python = Path(runner_env["UV_PROJECT_ENVIRONMENT"]) / "bin/python"
    check(make(project, "setup", env=env))  # the last act job pointed the shared environment at its copy
    recorded = {}
    for tag in ("v1.0.0", "v1.1.0"):
        image = f"{IMAGE}@sha256:{hashlib.sha256(tag.encode()).hexdigest()}"
        check(
            run([str(python), "-m", "my_ml_project.stages.train"], project, env)
        )  # a new run, a new version
        check(make(project, "release-model", f"TAG={tag}", f"IMAGE={image}", env=env))
        (releases / tag).mkdir()
        asset = {"tag": tag, "image": image, "commit": git(project, "rev-parse", "HEAD").strip()}
        (releases / tag / "release.json").write_text(json.dumps(asset))
        recorded[tag] = (image, production_alias(tracking_server))
    assert recorded["v1.0.0"][1] != recorded["v1.1.0"][1]
    return releases, recorded


def roll_back_to_v1_0_0(project: Path, runner_env: dict, server: str, releases: Path, run_dir: Path):
    """rollback.yml dispatched with tag v1.0.0, the release assets served from `releases`."""
    return run_act(
        project, "rollback.yml", "workflow_dispatch", dispatch_event({"tag": "v1.0.0"}, REPOSITORY),
        env=runner_env, variables={"MLFLOW_TRACKING_URI": server},
        shims={"gh": rollback_gh_shim(releases), "git": GIT_SHIM}, run_dir=run_dir, timeout=600,
    )  # fmt: skip


def test_rollback_opens_the_pull_request_with_the_old_digest_and_moves_production_back(
    project, runner_env, tracking_server, two_releases, tmp_path
):
    releases, recorded = two_releases
    assert production_alias(tracking_server) == recorded["v1.1.0"][1]

    rollback = roll_back_to_v1_0_0(project, runner_env, tracking_server, releases, tmp_path)

    assert rollback.jobs == {"rollback": "success"}, str(rollback)
    image, version = recorded["v1.0.0"]
    overlay = yaml.safe_load((rollback.artifacts / "pushed-production.yaml").read_text())
    name, digest = image.split("@")
    (entry,) = overlay["images"]
    assert (entry["newName"], entry["digest"]) == (name, digest)
    assert "newTag" not in entry
    assert (rollback.artifacts / "pushed-refspec.txt").read_text().strip() == (
        "HEAD:refs/heads/rollback/production-v1.0.0"
    )
    created = [call["argv"] for call in rollback.calls("gh") if call["argv"][:2] == ["pr", "create"]]
    assert len(created) == 1, rollback.calls("gh")
    assert "Roll production back to v1.0.0" in created[0]
    assert production_alias(tracking_server) == version, "MLflow alias production is back on v1.0.0's model"
    print(json.dumps({"rollback_seconds": round(rollback.seconds, 1)}))


def test_rollback_to_a_retired_version_is_refused_and_changes_nothing(
    project, runner_env, tracking_server, two_releases, tmp_path
):
    releases, recorded = two_releases
    env = runner_env | {"MLFLOW_TRACKING_URI": tracking_server}
    check(make(project, "setup", env=env))  # the last act job pointed the shared environment at its copy
    check(make(project, "release-model", "TAG=v1.1.0", f"IMAGE={recorded['v1.1.0'][0]}", env=env))
    before = production_alias(tracking_server)
    retired = make(project, "retire", f"VERSION={recorded['v1.0.0'][1]}", env=env)
    check(retired)

    rollback = roll_back_to_v1_0_0(project, runner_env, tracking_server, releases, tmp_path)

    assert rollback.jobs == {"rollback": "failure"}, str(rollback)
    assert f"release v1.0.0 is model version {recorded['v1.0.0'][1]}, which was retired" in rollback.log
    assert not (rollback.artifacts / "pushed-production.yaml").exists()
    assert rollback.calls("gh") == []  # not even the asset was fetched
    assert production_alias(tracking_server) == before
