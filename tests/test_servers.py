"""Beyond one machine, against real servers on 127.0.0.1: MLflow on PostgreSQL with artifacts in an
S3-compatible store, and a DVC remote in that store, pushed from one checkout and pulled into a clone."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bakes import bake, experiment, make, one_line_error, stages_run
from harness.processes import Started
from harness.servers import (
    S3,
    Credentials,
    mlflow_server,
    postgres,
    postgres_bindir,
    s3_server,
    server_tools,
    status_with_host,
)
from harness.tools import check, missing, run, uv_available

ARTIFACTS_BUCKET = "mlflow"
PROJECT = "my-ml-project"  # the default slug: the registered model, the experiment, the DVC bucket
GIT = ["git", "-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]


@dataclass
class Stack:
    database: Started
    s3: Started
    tracking: Started
    bucket: S3
    credentials: Credentials


@pytest.fixture(scope="module")
def stack(tmp_path_factory, timings) -> Stack:
    """PostgreSQL, moto's S3 server and an MLflow server backed by both; stopped when the module ends."""
    if not uv_available():
        missing("uv")
    bindir = postgres_bindir()
    if bindir is None:
        missing("PostgreSQL (Debian package postgresql)")
    folder = tmp_path_factory.mktemp("servers")
    tools = server_tools(folder / "env")
    credentials = Credentials.generate()
    with contextlib.ExitStack() as running:
        database = running.enter_context(postgres(bindir, folder / "postgres.log"))
        s3 = running.enter_context(s3_server(tools, folder / "moto.log"))
        bucket = S3(s3.url)
        bucket.create_bucket(ARTIFACTS_BUCKET)
        tracking = running.enter_context(
            mlflow_server(
                tools / "bin/mlflow",
                folder / "mlflow",
                backend_store_uri=database.url,
                artifacts_destination=f"s3://{ARTIFACTS_BUCKET}/artifacts",
                env=credentials.env(s3.url),
            )
        )
        timings["ready"] = {"postgres": database.seconds, "moto": s3.seconds, "mlflow": tracking.seconds}
        yield Stack(database, s3, tracking, bucket, credentials)


def in_project(project: Path, env: dict[str, str], code: str) -> dict:
    """Run Python in the project's environment (as `uv run` would); return the JSON it prints last."""
    result = run(["uv", "run", "--no-sync", "python", "-c", code], project, env)
    check(result)
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.mark.lifecycle
def test_the_tracking_server_keeps_its_host_check(stack):
    """A request naming another host (DNS rebinding) is refused; the address clients use is served."""
    api = f"{stack.tracking.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert status_with_host(api, "attacker.example") == 403
    assert status_with_host(api, stack.tracking.url.removeprefix("http://")) == 200


@pytest.mark.lifecycle
def test_server_tracking_logs_registers_promotes_and_serves_by_alias(
    stack, shared_env, tmp_path_factory, timings
):
    """mlflow_tracking=server: the run, the model version and @champion are on the server, the model's
    files (the skops and the ONNX one) in the object store, and the service loads both by alias with no
    local model file."""
    project = bake(tmp_path_factory.mktemp("server-tracked"), mlflow_tracking="server", dvc_remote="s3")
    env = shared_env | {"MLFLOW_TRACKING_URI": stack.tracking.url}
    check(make(project, "setup", env=env))
    train = make(project, "train", env=env)
    check(train)
    gate = make(project, "gate", env=env)
    check(gate)
    assert "is now @champion" in gate.output
    timings["server-backed"] = {"train": round(train.seconds, 1), "gate": round(gate.seconds, 1)}

    recorded = json.loads((project / "models/run.json").read_text())
    seen = in_project(
        project,
        env,
        "import json; from mlflow import MlflowClient; client = MlflowClient(); "
        f"version = client.get_model_version_by_alias({PROJECT!r}, 'champion'); "
        "run = client.get_run(version.run_id); "
        "print(json.dumps({'run_id': version.run_id, 'status': run.info.status, "
        "'metrics': sorted(run.data.metrics), 'params': len(run.data.params), "
        "'description': version.description, 'tracking': client._tracking_client.tracking_uri}))",
    )
    assert seen["run_id"] == recorded["run_id"]
    assert seen["status"] == "FINISHED"
    assert seen["params"] > 0
    assert {"accuracy", "f1", "roc_auc", "onnx_parity"} <= set(seen["metrics"]), seen["metrics"]
    assert seen["tracking"] == stack.tracking.url
    # The model card is the version's description, within the 5,000 characters PostgreSQL's column takes.
    assert seen["description"].startswith(f"# Model card: {PROJECT}")
    assert len(seen["description"]) <= 5000

    stored = stack.bucket.objects(ARTIFACTS_BUCKET, "artifacts/")
    names = {key.rsplit("/", 1)[-1] for key in stored}
    assert {"model.skops", "model.onnx", "MLmodel", "metrics.json"} <= names, sorted(stored)

    by_alias = in_project(
        project,
        env | {"MODEL_URI": f"models:/{PROJECT}@champion", "MODEL_PATH": "no/such/file.skops"},
        "import json, pandas as pd; from my_ml_project.model import load_model; "
        "from my_ml_project.predict import Predictor; "
        "frame = pd.read_csv('data/prepared/test.csv').drop(columns=['target']); "
        "served = Predictor(); "
        "print(json.dumps({'served': served.model.predict(frame).tolist(), "
        "'local': load_model().predict(frame).tolist(), 'runtime': served.runtime}))",
    )
    assert by_alias["served"] == by_alias["local"]
    # The ONNX file logged beside the skops one comes with the model loaded by alias, and is served.
    assert by_alias["runtime"] == "onnx", by_alias


@dataclass
class Pushed:
    project: Path
    bucket: str
    env: dict[str, str]


def use_remote(project: Path, env: dict[str, str], stack: Stack) -> None:
    """Point the DVC remote at the test server the way the README says: `dvc remote modify --local`,
    which writes the git-ignored .dvc/config.local, never the committed .dvc/config."""
    for option, value in (
        ("endpointurl", stack.s3.url),
        ("access_key_id", stack.credentials.key_id),
        ("secret_access_key", stack.credentials.secret),
    ):
        dvc = ["uv", "run", "--no-sync", "dvc", "remote", "modify", "--local", "storage", option, value]
        check(run(dvc, project, env))


@pytest.fixture(scope="module")
def pushed(stack, shared_env, tmp_path_factory, timings) -> Pushed:
    """dvc_remote=s3 with local tracking (otherwise the bake above): trained, committed, `make push`ed."""
    project = bake(tmp_path_factory.mktemp("pushed"), dvc_remote="s3")
    check(make(project, "setup", env=shared_env))
    train = make(project, "train", env=shared_env)
    check(train)
    use_remote(project, shared_env, stack)
    bucket = f"{PROJECT}-dvc"
    stack.bucket.create_bucket(bucket)
    check(run([*GIT, "add", "-A"], project))
    check(run([*GIT, "commit", "--quiet", "-m", "First trained model"], project))
    push = make(project, "push", env=shared_env)
    check(push)
    stored = stack.bucket.objects(bucket)
    timings["local"] = {"train": round(train.seconds, 1)}
    timings["dvc"] = {"push": round(push.seconds, 1), "objects": len(stored), "bytes": sum(stored.values())}
    return Pushed(project, bucket, shared_env)


@pytest.mark.lifecycle
def test_a_fresh_clone_pulls_from_the_s3_remote_and_reproduces_nothing(
    pushed, stack, tmp_path_factory, timings
):
    """`dvc push` to the S3-compatible server, `git clone`, `dvc pull`: `make train` runs no stage."""
    assert stack.bucket.objects(pushed.bucket), "the push stored nothing"
    clone = tmp_path_factory.mktemp("clone") / PROJECT
    check(run(["git", "clone", "--quiet", str(pushed.project), str(clone)], clone.parent))
    assert not (clone / "models/model.skops").exists(), "DVC outputs are not in git"
    check(make(clone, "setup", env=pushed.env))
    use_remote(clone, pushed.env, stack)
    pull = make(clone, "pull", env=pushed.env)
    check(pull)
    assert (clone / "models/model.skops").read_bytes() == (pushed.project / "models/model.skops").read_bytes()
    train = make(clone, "train", env=pushed.env)
    check(train)
    assert stages_run(train.output) == [], f"the clone reran stages after a pull:\n{train}"
    assert "up to date" in train.output, str(train)
    timings["dvc"] |= {"pull": round(pull.seconds, 1), "train_after_pull": round(train.seconds, 1)}


RECORD_CODE = """
import json
import fsspec, pandas as pd, pyarrow.parquet as pq
from my_ml_project.config import MonitorConfig
from my_ml_project.predict import Predictor, Record
from my_ml_project.serving.record import Recorder

held_out = pd.read_csv('data/prepared/test.csv').drop(columns=['target']).head(25)
sent = json.loads(held_out.to_json(orient='records'))
typed = [Record.model_validate(record) for record in sent]
answers = Predictor().infer(typed)
recorder = Recorder('s3://records/prod/record/', MonitorConfig(), version='v-test', batch_rows=10)
recorder.submit('first', typed[:10], answers[:10])
recorder.submit('second', typed[10:], answers[10:])
recorder.close()
store = fsspec.filesystem('s3')
rows = [row for key in store.glob('records/prod/record/date=*/part-*.parquet')
        for row in pq.read_table(key, filesystem=store).to_pylist()]
print(json.dumps({'sent': sent, 'answers': list(answers), 'rows': rows, 'written': recorder.written,
                  'dropped': recorder.dropped}, default=str))
"""


@pytest.mark.lifecycle
def test_the_prediction_record_lands_in_the_object_store_with_the_exact_records_sent(pushed, stack):
    """PREDICTION_RECORD=s3://bucket/prefix (the s3 bake ships s3fs): Parquet files land under the prefix,
    one folder per date, and read back as exactly the records sent with their ids and answers."""
    stack.bucket.create_bucket("records")
    env = pushed.env | stack.credentials.env(stack.s3.url) | {"AWS_ENDPOINT_URL": stack.s3.url}
    result = in_project(pushed.project, env, RECORD_CODE)
    assert (result["written"], result["dropped"]) == (25, 0)
    keys = stack.bucket.objects("records")
    assert keys, "nothing landed in the bucket"
    partitioned = re.compile(r"prod/record/date=\d{4}-\d\d-\d\d/part-[0-9a-f]{32}\.parquet")
    assert all(partitioned.fullmatch(key) for key in keys), sorted(keys)
    ids = [f"first-{i}" for i in range(10)] + [f"second-{i}" for i in range(15)]
    rows = {row["prediction_id"]: row for row in result["rows"]}
    assert sorted(rows) == sorted(ids)
    for prediction_id, record, (prediction, probabilities) in zip(ids, result["sent"], result["answers"],
                                                                  strict=True):  # fmt: skip
        row = rows[prediction_id]
        assert {name: row[name] for name in record} == record
        assert row["prediction"] == prediction
        assert {label: row[f"probability_{label}"] for label in probabilities} == probabilities
        assert (row["request_id"], row["model_version"]) == (prediction_id.split("-")[0], "v-test")


@pytest.mark.lifecycle
def test_drift_and_feedback_read_the_record_and_the_labels_from_the_object_store(pushed, stack):
    """Every raw row served into PREDICTION_RECORD=s3://...: `make drift RECORD=s3://...` finds no drift,
    `make feedback LABELS=s3://...` matches every label; an empty prefix is a window too small to decide."""
    stack.bucket.create_bucket("monitor")
    env = pushed.env | stack.credentials.env(stack.s3.url) | {"AWS_ENDPOINT_URL": stack.s3.url}
    written = experiment(pushed.project, env, "record", "my_ml_project", "s3://monitor/record", "raw", "569")
    assert written == {"written": 569, "dropped": 0}
    assert "record.labels.csv" in stack.bucket.objects("monitor")

    drift = make(pushed.project, "drift", "RECORD=s3://monitor/record", env=env)
    assert drift.returncode == 0, str(drift)
    report = json.loads((pushed.project / "reports/drift.json").read_text())
    assert (report["drift"], report["rows"]["window"], report["record"]) == (
        False,
        569,
        "s3://monitor/record",
    )

    labels = "LABELS=s3://monitor/record.labels.csv"
    feedback = make(pushed.project, "feedback", labels, "RECORD=s3://monitor/record", env=env)
    assert feedback.returncode == 0, str(feedback)
    live = json.loads((pushed.project / "reports/live.json").read_text())
    assert (live["rows"]["matched"], live["rows"]["unmatched"], live["passed"]) == (569, 0, True)

    one_line_error(
        make(pushed.project, "drift", "RECORD=s3://monitor/nothing", env=env), 2, "no prediction record"
    )
    missing = make(
        pushed.project, "feedback", "LABELS=s3://monitor/none.csv", "RECORD=s3://monitor/record", env=env
    )
    one_line_error(missing, 3, "no such file")


READ_BACK = """
import json, fsspec
store = fsspec.filesystem('s3')
keys = ('out/scored.csv', 'out/scored.rejects.csv')
print(json.dumps({key: store.cat(f'batch/{key}').decode() for key in keys}))
"""


@pytest.mark.lifecycle
def test_make_predict_reads_and_writes_object_store_urls(pushed, stack):
    """INPUT and OUTPUT as s3:// URLs (the s3 bake ships s3fs): the scored file and the rejects land in the
    bucket with the ids kept; a missing input object is one line, a non-zero exit and no output object."""
    stack.bucket.create_bucket("batch")
    env = pushed.env | stack.credentials.env(stack.s3.url) | {"AWS_ENDPOINT_URL": stack.s3.url}
    held_out = list(csv.DictReader(io.StringIO((pushed.project / "data/prepared/test.csv").read_text())))
    rows = [{"patient": f"p{index:03d}"} | {k: v for k, v in row.items() if k != "target"}
            for index, row in enumerate(held_out)]  # fmt: skip
    rows[7]["mean_radius"] = "wide"  # row 8: text in a numeric column
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    stack.bucket.put("batch", "in/new.csv", text.getvalue().encode())

    result = make(pushed.project, "predict", "INPUT=s3://batch/in/new.csv", "OUTPUT=s3://batch/out/scored.csv",
                  "ID=patient", "CHUNK=32", env=env)  # fmt: skip

    check(result)
    stored = in_project(pushed.project, env, READ_BACK)  # objects s3fs wrote are private: read them signed
    scored = list(csv.DictReader(io.StringIO(stored["out/scored.csv"])))
    assert [row["patient"] for row in scored] == [row["patient"] for row in rows if row["patient"] != "p007"]
    assert {row["prediction"] for row in scored} <= {"0", "1"}
    rejects = list(csv.DictReader(io.StringIO(stored["out/scored.rejects.csv"])))
    assert [(row["row"], row["rule"]) for row in rejects] == [("8", "mean_radius: not a number")]
    assert sorted(stack.bucket.objects("batch")) == ["in/new.csv", "out/scored.csv", "out/scored.rejects.csv"]

    missing = make(pushed.project, "predict", "INPUT=s3://batch/in/none.csv", "OUTPUT=s3://batch/out/none.csv",
                   env=env)  # fmt: skip
    assert missing.returncode != 0
    said = [line for line in missing.output.splitlines() if line.startswith("predict:")]
    assert len(said) == 1, str(missing)
    assert "no such file" in said[0], str(missing)
    assert "Traceback" not in missing.output, str(missing)
    assert sorted(stack.bucket.objects("batch")) == ["in/new.csv", "out/scored.csv", "out/scored.rejects.csv"]


# What a leaked credential looks like, besides the test keys themselves. A value that is a reference
# ($VAR, ${{ secrets.X }}, <placeholder>) is not a credential.
SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "secret access key": re.compile(r"secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+=_-]{20,}", re.I),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "password in a URI": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:(?![$<{])[^/\s@]+@", re.I),
    "password= setting": re.compile(r"password\s*=\s*(?![$<{\s])[^\s&\"';]+", re.I),
}


def leaks(text: str, credentials: Credentials) -> list[str]:
    """The names of the patterns, and of the test keys, found in `text`."""
    found = [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    keys = {"the test key id": credentials.key_id, "the test secret": credentials.secret}
    return found + [name for name, value in keys.items() if value in text]


def test_leak_patterns_find_keys_and_spare_references():
    credentials = Credentials.generate()
    assert leaks(f"aws_access_key_id = {credentials.key_id}", credentials) == [
        "AWS access key id",
        "the test key id",
    ]
    assert "secret access key" in leaks(f"secret_access_key = {credentials.secret}", credentials)
    assert leaks("-----BEGIN OPENSSH PRIVATE KEY-----", credentials) == ["private key"]
    assert leaks("postgresql://mlflow:hunter22@db:5432/mlflow", credentials) == ["password in a URI"]
    assert leaks("host=db user=mlflow password=hunter22", credentials) == ["password= setting"]
    references = (
        "PUSH_URL = https://x-access-token:$${GH_TOKEN}@github.com/o/r.git\n"
        "MLFLOW_TRACKING_PASSWORD: ${{ secrets.MLFLOW_TRACKING_PASSWORD }}\n"
        "export AWS_SECRET_ACCESS_KEY=<your secret>\n"
        'dvc remote modify --local storage secret_access_key "$AWS_SECRET_ACCESS_KEY"\n'
    )
    assert leaks(references, credentials) == []


@pytest.mark.lifecycle
def test_credentials_never_reach_committed_files_or_history(pushed, stack):
    """After a push, neither the files git tracks nor any commit (all refs, every diff) holds a key;
    .dvc/config names the bucket and nothing else, the local settings stay in git-ignored config.local."""
    project = pushed.project
    tracked = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], project)
    for name in filter(None, tracked.output.split("\0")):
        text = (project / name).read_text(encoding="utf-8", errors="replace")
        assert not leaks(text, stack.credentials), f"{name}: {leaks(text, stack.credentials)}"
    history = run(["git", "log", "-p", "--all", "--format=%H %an <%ae>%n%B"], project)
    check(history)
    assert "First trained model" in history.output
    assert not leaks(history.output, stack.credentials), leaks(history.output, stack.credentials)

    config = (project / ".dvc/config").read_text()
    assert f"url = s3://{pushed.bucket}/store" in config
    for setting in ("endpointurl", "access_key_id", "secret_access_key", "session_token", "credentialpath"):
        assert setting not in config, f".dvc/config holds {setting}"
    assert stack.s3.url not in config
    local = project / ".dvc/config.local"
    assert stack.credentials.secret in local.read_text(), "the keys were set with --local"
    assert run(["git", "check-ignore", "-q", ".dvc/config.local"], project).returncode == 0
    assert run(["git", "ls-files", "--error-unmatch", ".dvc/config.local"], project).returncode != 0
