"""A CSV project's first push passes ci's model-gate under act however its data is brought: committed to
git (dvc_remote=none), imported from an HTTP URL (dvc_remote=local, a folder CI cannot reach), or pushed
to an S3 remote (the S3-compatible server). A file that is only `dvc add`ed, with no remote CI can use,
stops `make train` with one line saying what to configure. An import from the object store follows new
data with `make update-data`: the new MD5 and row count, and the pipeline trains on it. The `monitor`
workflow, on windows of the prediction record in the bucket: a drifted one opens the issue and dispatches
retrain, a second one updates that issue, a clean one does neither.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bakes import bake, make, write_team_csv
from harness.events import push_event, schedule_event
from harness.processes import answers_ok, free_port, started
from harness.runner import prepare_repo, run_act
from harness.servers import S3, Credentials, s3_server, server_tools
from harness.tools import check, missing, run, uv_available
from harness.workflows import MODEL_TESTS_STEP, adapt_for_act, drop_step, run_alone

pytestmark = pytest.mark.lifecycle

REPOSITORY = "acme/churn"
CSV = {"dataset": "csv", "target_column": "churned", "project_name": "Churn Model"}
ROLE = "arn:aws:iam::123456789012:role/read"


@dataclass
class Servers:
    s3: S3
    endpoint: str
    credentials: Credentials
    tools: Path
    http: str  # serves the folder `served`
    served: Path

    def env(self) -> dict[str, str]:
        """What DVC's S3 client (s3fs) reads: the keys, the region and the endpoint of the test server."""
        return self.credentials.env(self.endpoint) | {"AWS_ENDPOINT_URL": self.endpoint}

    def put(self, bucket: str, key: str, source: Path) -> None:
        code = (
            "import boto3, sys; boto3.client('s3', endpoint_url=sys.argv[1])"
            ".upload_file(sys.argv[2], sys.argv[3], sys.argv[4])"
        )
        python = str(self.tools / "bin/python")
        check(run([python, "-c", code, self.endpoint, str(source), bucket, key], source.parent, self.env()))


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    """moto's S3 server and a plain HTTP file server, on 127.0.0.1, for the whole module."""
    if not uv_available():
        missing("uv")
    folder = tmp_path_factory.mktemp("data-servers")
    tools = server_tools(folder / "env")
    served = folder / "served"
    served.mkdir()
    port = free_port()
    http = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(served)]
    with contextlib.ExitStack() as running:
        s3 = running.enter_context(s3_server(tools, folder / "moto.log"))
        running.enter_context(
            started("http.server", command, folder / "http.log", answers_ok(http), url=http)
        )
        yield Servers(S3(s3.url), s3.url, Credentials.generate(), tools, http, served)


@pytest.fixture(scope="module")
def runner_env(shared_env, tmp_path_factory) -> dict[str, str]:
    return shared_env | {"BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml-home"))}


def csv_bake(folder: Path, env: dict[str, str], **answers: str) -> Path:
    project = bake(folder, **CSV, **answers)
    write_team_csv(project / "data/raw/data.csv", "classification", "churned")
    check(make(project, "setup", env=env))
    return project


def dvc(project: Path, env: dict[str, str], *args: str):
    return run(["uv", "run", "--no-sync", "dvc", *args], project, env)


def first_push(project: Path, env: dict[str, str], run_dir: Path, **options):
    """ci.yml's model-gate on the first push to main, after the README's first run: `make train`, then
    commit what it wrote (dvc.lock, data/schema.json, reports/). The job runs alone, and without its last
    step (`make test` on the trained model): lint and test, which it needs, and that step read no data
    source of their own; test_act_workflows runs all of them on a pull request, and the lifecycle bakes
    run `make test` on trained dataset=csv projects."""
    check(make(project, "train", env=env))
    adapt_for_act(project)
    run_alone(project, "ci.yml", "model-gate")
    drop_step(project, "ci.yml", "model-gate", MODEL_TESTS_STEP)
    prepare_repo(project, REPOSITORY)
    return run_act(
        project, "ci.yml", "push", push_event(repository=REPOSITORY),
        job="model-gate", env=env, concurrent_jobs=1, run_dir=run_dir, timeout=900, **options,
    )  # fmt: skip


def passed_the_gate(ci) -> None:
    assert ci.jobs.get("model-gate") == "success", str(ci)
    report = (ci.artifacts / "model-report/reports/gate.md").read_text()
    assert report.startswith("## Model quality gate: PASS"), report
    assert "data: data/raw/data.csv is" not in ci.log, "make train found the CSV"


def test_first_push_with_the_csv_committed_to_git(runner_env, tmp_path_factory):
    project = csv_bake(tmp_path_factory.mktemp("csv-git"), runner_env)
    ci = first_push(project, runner_env, tmp_path_factory.mktemp("act-csv-git"))
    passed_the_gate(ci)
    print(f"\nact ci.yml model-gate (csv committed to git): {ci.seconds:.1f} s")


def test_a_dvc_added_file_without_a_remote_stops_make_train_with_one_line(runner_env, tmp_path_factory):
    """What ci would meet on a fresh checkout: the file is git-ignored, no remote holds it."""
    project = csv_bake(tmp_path_factory.mktemp("csv-dvc-add"), runner_env)
    check(dvc(project, runner_env, "add", "data/raw/data.csv"))
    prepare_repo(project, REPOSITORY)
    clone = project.parent / "clone"
    check(run(["git", "clone", "--quiet", str(project), str(clone)], project.parent))
    assert not (clone / "data/raw/data.csv").exists()
    check(make(clone, "setup", env=runner_env))
    train = make(clone, "train", env=runner_env | {"CI": "true"})
    assert train.returncode != 0
    said = [line for line in train.output.splitlines() if line.startswith("data: ")]
    assert len(said) == 1, str(train)
    assert (
        "tracked by DVC (data/raw/data.csv.dvc) but was not pulled, and this project has no DVC remote"
        in said[0]
    )
    assert "commit it to git (up to 10 MB)" in said[0]
    assert "dvc import-url" in said[0]
    assert "Traceback" not in train.output
    assert "Running stage" not in train.output, "nothing ran before the check"


def test_first_push_with_the_csv_imported_from_a_url(servers, runner_env, tmp_path_factory):
    """dvc_remote=local (a folder on one machine): the CSV at an HTTP URL, tracked with dvc import-url;
    make train in CI downloads it and checks it against the committed hash."""
    project = csv_bake(tmp_path_factory.mktemp("csv-url"), runner_env, dvc_remote="local")
    raw = project / "data/raw/data.csv"
    shutil.move(raw, servers.served / "churn.csv")
    check(dvc(project, runner_env, "import-url", f"{servers.http}/churn.csv", "data/raw/data.csv"))
    ci = first_push(project, runner_env, tmp_path_factory.mktemp("act-csv-url"))
    passed_the_gate(ci)
    assert f"data: data/raw/data.csv fetched from {servers.http}/churn.csv" in ci.log
    print(f"\nact ci.yml model-gate (csv imported from a URL): {ci.seconds:.1f} s")


@pytest.fixture(scope="module")
def s3_project(servers, runner_env, tmp_path_factory) -> Path:
    """dvc_remote=s3: the CSV `dvc add`ed and `make push`ed to the test server's bucket, then committed."""
    project = csv_bake(tmp_path_factory.mktemp("csv-s3"), runner_env, dvc_remote="s3")
    servers.s3.create_bucket("churn-model-dvc")
    check(dvc(project, runner_env, "remote", "modify", "--local", "storage", "endpointurl", servers.endpoint))
    check(dvc(project, runner_env, "add", "data/raw/data.csv"))
    check(make(project, "train", env=runner_env))
    check(make(project, "push", env=runner_env | servers.env()))
    assert servers.s3.objects("churn-model-dvc"), "the push stored nothing"
    return project


def test_first_push_with_the_csv_in_an_s3_remote(s3_project, servers, runner_env, tmp_path_factory):
    """ci logs in with the read-only role (stubbed) and pulls the CSV from the S3-compatible server."""
    raw_digest = hashlib.md5((s3_project / "data/raw/data.csv").read_bytes(), usedforsecurity=False)
    ci = first_push(
        s3_project, runner_env | servers.env(), tmp_path_factory.mktemp("act-csv-s3"),
        variables={"AWS_READ_ROLE_ARN": ROLE, "AWS_REGION": "us-east-1"},
    )  # fmt: skip
    passed_the_gate(ci)
    login = ci.call("aws-actions/configure-aws-credentials", "model-gate")["inputs"]
    assert login["role-to-assume"] == ROLE
    assert f"md5/{raw_digest.hexdigest()[:2]}/{raw_digest.hexdigest()[2:]}" in "\n".join(
        servers.s3.objects("churn-model-dvc")
    )
    print(f"\nact ci.yml model-gate (csv in an S3 remote): {ci.seconds:.1f} s")


# --- the monitor workflow (dvc_remote=s3) -----------------------------------------------------------

RECORD_CODE = """
import json, sys
import pandas as pd
from churn_model.config import MonitorConfig
from churn_model.predict import Predictor, Record
from churn_model.serving.record import Recorder

frame = pd.read_csv('data/prepared/train.csv').drop(columns=['churned']).head(300)
if sys.argv[2] == 'drifted':
    frame['plan'] = 'premium'  # a category whose share grows from about a third to all
typed = [Record.model_validate(record) for record in json.loads(frame.to_json(orient='records'))]
recorder = Recorder(sys.argv[1], MonitorConfig(), version='v-test', batch_rows=1000)
recorder.submit(sys.argv[2], typed, Predictor().infer(typed))
recorder.close()
print(json.dumps({'written': recorder.written}))
"""
# gh for monitor: the repository's one open issue kept in GH_STATE across runs, everything recorded.
MONITOR_GH = """
case "$1 $2" in
  "issue list") cat "$GH_STATE" 2>/dev/null || true;;
  "issue create") echo 7 > "$GH_STATE"; echo "https://github.com/acme/churn/issues/7";;
esac
"""


@pytest.fixture(scope="module")
def records(s3_project, servers, runner_env) -> dict[str, str]:
    """Two windows of 300 served records in the bucket: like the training data, and with every `plan`
    set to premium. Returns window name -> PREDICTION_RECORD URL."""
    servers.s3.create_bucket("records")
    check(make(s3_project, "setup", env=runner_env))
    windows = {}
    for name in ("clean", "drifted"):
        url = f"s3://records/{name}"
        result = run(["uv", "run", "--no-sync", "python", "-c", RECORD_CODE, url, name], s3_project,
                     runner_env | servers.env())  # fmt: skip
        check(result)
        assert json.loads(result.output.strip().splitlines()[-1]) == {"written": 300}
        windows[name] = url
    prepare_repo(s3_project, REPOSITORY)
    return windows


def monitor(project: Path, env: dict[str, str], record: str, state: Path, run_dir: Path):
    adapt_for_act(project)
    prepare_repo(project, REPOSITORY)
    return run_act(
        project, "monitor.yml", "schedule", schedule_event("43 6 * * *", REPOSITORY),
        env=env | {"GH_STATE": str(state)}, shims={"gh": MONITOR_GH}, run_dir=run_dir, timeout=900,
        variables={"AWS_READ_ROLE_ARN": ROLE, "AWS_REGION": "us-east-1", "PREDICTION_RECORD": record},
    )  # fmt: skip


def gh_calls(run) -> list[list[str]]:
    return [call["argv"] for call in run.calls("gh")]


def test_monitor_on_a_clean_window_opens_no_issue_and_dispatches_nothing(
    s3_project, records, servers, runner_env, tmp_path
):
    run = monitor(s3_project, runner_env | servers.env(), records["clean"], tmp_path / "gh-state", tmp_path)
    assert run.jobs == {"monitor": "success"}, str(run)
    assert "## " in run.summaries["monitor"], "the drift report is in the job summary"
    calls = gh_calls(run)
    assert not [argv for argv in calls if argv[:2] in (["issue", "create"], ["workflow", "run"])], calls
    assert calls == [], "no drift: gh is not even asked"
    print(f"\nact monitor.yml (clean window): {run.seconds:.1f} s")


def test_monitor_on_drift_opens_one_issue_then_updates_it_and_dispatches_retrain(
    s3_project, records, servers, runner_env, tmp_path_factory
):
    state = tmp_path_factory.mktemp("gh-state") / "open-issue"
    env = runner_env | servers.env()
    first = monitor(s3_project, env, records["drifted"], state, tmp_path_factory.mktemp("act-monitor-1"))
    assert first.jobs == {"monitor": "success"}, str(first)
    calls = gh_calls(first)
    created = [argv for argv in calls if argv[:2] == ["issue", "create"]]
    assert len(created) == 1, calls
    assert created[0][created[0].index("--label") + 1] == "monitoring"
    assert calls[-1] == ["workflow", "run", "retrain.yml"]
    assert "plan" in first.summaries["monitor"], "the drift table names the drifted feature"

    second = monitor(s3_project, env, records["drifted"], state, tmp_path_factory.mktemp("act-monitor-2"))
    assert second.jobs == {"monitor": "success"}, str(second)
    calls = gh_calls(second)
    assert not [argv for argv in calls if argv[:2] == ["issue", "create"]], calls
    assert [argv[:3] for argv in calls if argv[:2] in (["issue", "edit"], ["issue", "comment"])] == [
        ["issue", "edit", "7"], ["issue", "comment", "7"],
    ]  # fmt: skip
    assert calls[-1] == ["workflow", "run", "retrain.yml"]
    print(f"\nact monitor.yml (drifted, twice): {first.seconds:.1f} s, {second.seconds:.1f} s")


def test_update_data_follows_new_data_at_an_s3_url(s3_project, servers, runner_env, tmp_path):
    """dvc import-url s3://...; the object changes; make update-data moves the pointer to it and reports
    MD5 and rows before and after; make train trains on the new rows."""
    project, env = s3_project, runner_env | servers.env()
    check(make(project, "setup", env=env))
    servers.s3.create_bucket("incoming")
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_team_csv(first, "classification", "churned", rows=300, seed=3)
    write_team_csv(second, "classification", "churned", rows=500, seed=4)
    servers.put("incoming", "churn.csv", first)
    check(dvc(project, env, "remove", "data/raw/data.csv.dvc"))
    check(dvc(project, env, "import-url", "-f", "s3://incoming/churn.csv", "data/raw/data.csv"))
    pinned = (project / "data/raw/data.csv.dvc").read_text()

    unchanged = make(project, "update-data", env=env)
    check(unchanged)
    assert json.loads((project / "reports/data-change.json").read_text())["changed"] is False

    servers.put("incoming", "churn.csv", second)
    updated = make(project, "update-data", env=env)
    check(updated)
    change = json.loads((project / "reports/data-change.json").read_text())
    md5 = {name: hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest() for name, path in
           (("first", first), ("second", second))}  # fmt: skip
    assert change == {
        "url": "s3://incoming/churn.csv",
        "changed": True,
        "before": {"md5": md5["first"], "rows": 300},
        "after": {"md5": md5["second"], "rows": 500},
    }
    table = (project / "reports/data-change.md").read_text()
    assert f"| before | `{md5['first']}` | 300 |" in table
    assert f"| after | `{md5['second']}` | 500 |" in table
    assert (project / "data/raw/data.csv.dvc").read_text() != pinned
    assert md5["second"] in (project / "data/raw/data.csv.dvc").read_text()
    train = make(project, "train", env=env)
    check(train)
    assert "prepare: 400 training rows, 100 test rows" in train.output, str(train)
