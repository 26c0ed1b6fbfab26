"""Bakes installed and run end to end: setup, train (twice), test, gate, serve, in one shared environment."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
import yaml

from harness.bakes import bake, first_record, make, stages_run, write_team_csv
from harness.processes import post_json, serving
from harness.servers import mlflow_server
from harness.tools import check, find_python, missing, run, uv_available
from matrix import bake_id, every_combination, full_e2e_set

pytestmark = [
    pytest.mark.lifecycle,
    pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project"),
]


def target_of(project: Path) -> str:
    return yaml.safe_load((project / "params.yaml").read_text())["data"]["target"]


@pytest.fixture(scope="module")
def tracking_server(shared_env, tmp_path_factory):
    """A real MLflow server on loopback for the mlflow_tracking=server bakes, started on first use."""
    stack = contextlib.ExitStack()
    uris: list[str] = []

    def get(env: dict[str, str]) -> str:
        """The server's URL; the first call starts it from `env`'s installed mlflow."""
        if not uris:
            mlflow = Path(env["UV_PROJECT_ENVIRONMENT"]) / "bin/mlflow"
            server = stack.enter_context(mlflow_server(mlflow, tmp_path_factory.mktemp("mlflow-server")))
            uris.append(server.url)
        return uris[0]

    with stack:
        yield get


FULL = full_e2e_set()
RUNNING = FULL[0]["python_version"]  # the shared environment's; the other versions install their own


def own_environment(version: str, folder: Path) -> dict[str, str]:
    """An environment of its own on Python `version`, which uv finds on this machine without downloading."""
    interpreter = find_python(version)
    if interpreter is None:
        missing(f"a Python {version} interpreter", "uv python install or pyenv install provides it")
    venv = str(folder / "venv")
    return {"UV_PYTHON": interpreter, "UV_PROJECT_ENVIRONMENT": venv, "VIRTUAL_ENV": venv}


@pytest.mark.parametrize("answers", FULL, ids=[bake_id(answers) for answers in FULL])
def test_generated_project_lifecycle(
    answers, shared_env, tracking_server, timings, tmp_path_factory, trained_bake
):
    """setup -> train (compiled to ONNX, or not with the reason) -> no-op train -> test -> gate -> serve one
    prediction (on the compiled model when there is one) and refuse a bad request. A set on another Python
    version installs from its lock into an environment of its own, and its tests run on that version.
    The default set's setup and first train are the run's trained default bake's (`trained_bake`: baked,
    set up and trained from scratch once per run), which this test takes a copy of."""
    steps = timings.setdefault(bake_id(answers), {})
    env = dict(shared_env)
    if bake_id(answers) == "default":
        project = trained_bake("default", own=True)
    else:
        folder = tmp_path_factory.mktemp("e2e")
        project = bake(folder, **answers)
        if answers.get("dataset") == "csv":
            column = answers.get("target_column", "target")
            write_team_csv(project / "data/raw/data.csv", answers["task"], column)
        if answers["python_version"] != RUNNING:
            env |= own_environment(answers["python_version"], folder)
        if answers.get("mlflow_tracking") == "server":
            check(make(project, "setup", env=env))  # the server runs from an installed environment's mlflow
            env["MLFLOW_TRACKING_URI"] = tracking_server(env)
        for target in ("setup", "train"):
            result = make(project, target, env=env)
            check(result)
            steps[target] = round(result.seconds, 1)
    version = answers["python_version"]
    assert (project / "data/schema.json").exists(), "the first run infers the schema"

    # The compiled model: parity holds and models/compiled/model.onnx is there, or it is not, with the
    # reason, in every place a reader looks (parity.json, the DVC metrics, the model card).
    parity = json.loads((project / "models/compiled/parity.json").read_text())
    onnx = project / "models/compiled/model.onnx"
    steps["compiled"] = parity["compiled"] or parity["reason"]
    assert json.loads((project / "reports/compiled.json").read_text())["onnx_parity"] == float(
        parity["compiled"]
    )
    if parity["compiled"]:
        assert onnx.exists()
        assert parity["labels_differing"] == 0
        assert parity["max_difference"] <= parity["tolerance"]
        assert "- Serving: compiled to ONNX" in (project / "MODEL_CARD.md").read_text()
    else:
        assert not onnx.exists(), "no ONNX file is left when parity fails"
        assert parity["reason"].startswith(("parity failed", "conversion failed")), parity["reason"]
        assert parity["reason"] in (project / "MODEL_CARD.md").read_text()

    again = make(project, "train", env=env)
    check(again)
    assert stages_run(again.output) == [], f"a second train with nothing changed ran stages:\n{again}"
    steps["train_again"] = round(again.seconds, 1)

    tests = make(project, "test", env=env)
    check(tests)
    summary = tests.output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert "failed" not in summary, summary
    assert "skipped" not in summary, f"with a trained model every generated test runs: {summary}"
    assert f"Python {version}." in tests.output, "pytest ran on the bake's python_version"
    steps["test"] = round(tests.seconds, 1)

    gate = make(project, "gate", env=env)
    check(gate)
    assert "Model quality gate: PASS" in gate.output
    assert "is now @champion" in gate.output
    assert ("Serving: compiled to ONNX" if parity["compiled"] else parity["reason"]) in gate.output
    if "MLFLOW_TRACKING_URI" in env:
        assert env["MLFLOW_TRACKING_URI"] in (project / "models/run.json").read_text()
    steps["gate"] = round(gate.seconds, 1)

    with serving(project, env=env) as url:
        status, body = post_json(f"{url}/predict", {"records": [first_record(project, target_of(project))]})
        assert status == 200, body
        assert len(body["predictions"]) == 1
        example = json.loads((project / "reports/request_example.json").read_text())
        status, body = post_json(f"{url}/predict", example)
        assert status == 200, body
        assert len(body["predictions"]) == len(example["records"])
        status, body = post_json(f"{url}/predict", {"records": [{"no_such_column": 1.0}]})
        assert 400 <= status < 500, body
        assert "no_such_column" in json.dumps(body)
    # Each worker says once, at start-up, which model it runs and why not the compiled one.
    started = [line for line in (project / "serve.log").read_text().splitlines() if "] model: " in line]
    assert started, "no start-up line about the model"
    expected = (
        "model: onnx; "
        if parity["compiled"]
        else f"model: scikit-learn; no models/compiled/model.onnx: {parity['reason']}"
    )
    assert all(expected in line for line in started), started


PARITY = Path(__file__).parent / "compiled/parity.py"


def test_every_task_model_dataset_compiles_with_parity_or_falls_back_with_its_reason(shared_env, tmp_path):
    """The lifecycle bakes above hold every pair of task, model and dataset values; the compiled model's
    parity, which depends on all three at once, is checked here for the whole product: each combination
    baked, prepared, validated and fitted by the project's own code, then exported as the evaluate stage
    does, all in one process (tests/compiled/parity.py)."""
    combinations = every_combination()
    projects = []
    for answers in combinations:
        project = bake(tmp_path / bake_id(answers), **answers)
        if answers["dataset"] == "csv":
            write_team_csv(project / "data/raw/data.csv", answers["task"], "target")
        projects.append(project)

    def package(project: Path) -> dict[str, bytes]:
        files = (project / "src").rglob("*")
        return {str(path.relative_to(project)): path.read_bytes() for path in files if path.is_file()}

    assert all(package(project) == package(projects[0]) for project in projects), (
        "one package for every task, model and dataset (params.yaml and the data differ): so one installed"
        " copy runs them all"
    )
    check(make(projects[0], "setup", env=shared_env))
    command = ["uv", "run", "--no-sync", "python", str(PARITY), "my_ml_project", *map(str, projects)]
    result = run(command, projects[0], shared_env)
    check(result)
    reports = json.loads(result.output.strip().splitlines()[-1])
    assert len(reports) == len(combinations) == 12
    outcome = {}
    for answers, project in zip(combinations, projects, strict=True):
        parity, name = reports[str(project)], bake_id(answers)
        assert parity["onnx_written"] == parity["compiled"], name
        assert (project / "models/compiled/parity.json").exists(), name
        if parity["compiled"]:
            assert parity["rows"] > 0, (name, parity)
            assert parity["labels_differing"] == 0, (name, parity)
            assert parity["max_difference"] <= parity["tolerance"], (name, parity)
        else:
            assert parity["reason"].startswith(("parity failed", "conversion failed")), (name, parity)
        outcome[name] = parity["compiled"] or parity["reason"]
    print(json.dumps(outcome, indent=1))
    assert outcome["default"] is True, "the default bake serves its compiled model"


def test_server_tracking_without_a_uri_stops_with_one_clear_message(tmp_path, shared_env):
    project = bake(tmp_path, mlflow_tracking="server", project_name="Server Tracked")
    write_team_csv(project / "data/raw/data.csv", "classification", "target")
    check(make(project, "setup", env=shared_env))
    env = {key: value for key, value in shared_env.items() if key != "MLFLOW_TRACKING_URI"}
    result = run(["make", "--no-print-directory", "train"], project, env | {"MLFLOW_TRACKING_URI": ""})
    assert result.returncode != 0
    assert "MLFLOW_TRACKING_URI is not set: this project logs to an MLflow server" in result.output


def test_changing_a_hyperparameter_reruns_train_evaluate_and_profile_only(trained_bake, shared_env):
    project = trained_bake("default")
    params = project / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("n_estimators: 100", "n_estimators: 60"))
    try:
        rerun = make(project, "train", env=shared_env)
        check(rerun)
        assert stages_run(rerun.output) == ["train", "evaluate", "profile"], str(rerun)
    finally:
        params.write_text(original)


def test_gate_against_a_better_baseline_fails_naming_the_metric(trained_bake, shared_env, tmp_path):
    project = trained_bake("regression")
    current = json.loads((project / "reports/metrics.json").read_text())
    better = current | {"r2": current["r2"] + 0.2}
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(better))
    gate = make(project, "gate", f"BASELINE={baseline}", env=shared_env)
    assert gate.returncode != 0
    assert "r2 dropped from" in gate.output
    assert "| r2 (higher is better) |" in (project / "reports/gate.md").read_text()


@pytest.mark.parametrize(
    ("damage", "column"),
    [
        (lambda text: text.replace("monthly_fee", "fee_per_month", 1), "monthly_fee"),
        (lambda text: re.sub(r"\n(\d+),([\d.]+),", r"\n\1,lots,", text, count=1), "monthly_fee"),
    ],
    ids=["renamed column", "text in a numeric column"],
)
def test_a_bad_csv_fails_at_validate_naming_the_column(trained_bake, shared_env, damage, column):
    project = trained_bake("csv")
    raw = project / "data/raw/data.csv"
    original = raw.read_text()
    raw.write_text(damage(original))
    try:
        result = make(project, "train", env=shared_env)
        assert result.returncode != 0
        assert "Running stage 'validate'" in result.output
        assert "Running stage 'train'" not in result.output
        assert f"column {column!r}" in result.output, str(result)
    finally:
        raw.write_text(original)


def test_build_makes_a_bento_with_the_model_and_pinned_runtime_requirements(
    trained_bake, shared_env, tmp_path
):
    project = trained_bake("default")
    build = make(project, "build", "VERSION=0.0.1", env=shared_env | {"BENTOML_HOME": str(tmp_path)})
    check(build)
    assert 'Successfully built Bento(tag="my-ml-project:0.0.1")' in build.output
    bento = tmp_path / "bentos/my-ml-project/0.0.1"
    assert (bento / "src/models/model.skops").exists()
    assert (bento / "src/models/compiled/model.onnx").exists(), "the bento serves the compiled model"
    assert (bento / "src/data/schema.json").exists()
    shipped = {path.relative_to(bento / "src").parts[0] for path in (bento / "src").iterdir()}
    assert not shipped & {"tools", "bench", "tests"}, "CI checks and the optional bench stay out of the bento"
    assert not list((bento / "src").rglob("smoke.py")), "the smoke check is not part of the service"
    requirements = (bento / "env/python/requirements.txt").read_text()
    assert re.search(r"^scikit-learn==", requirements, re.M)
    assert re.search(r"^onnxruntime==", requirements, re.M)
    assert not re.search(r"^(skl2onnx|onnx)==", requirements, re.M), "conversion stays in the pipeline"
    assert not re.search(r"^(mlflow|dvc)==", requirements, re.M), "training tools stay out of the image"
    # Every runtime requirement carries its hashes (uv verifies them in the image). BentoML appends a bare
    # `bentoml==<version>` line of its own; the hashed entry for the same version is there too.
    lines = [line.strip() for line in requirements.replace("\\\n", " ").splitlines()]
    pins = [line for line in lines if re.match(r"[\w.-]+==", line)]
    entries = [(line.split("==")[0], "--hash=sha256:" in line) for line in pins]
    unhashed = {name for name, has_hash in entries if not has_hash}
    hashed = {name for name, has_hash in entries if has_hash}
    assert "scikit-learn" in hashed
    assert unhashed <= {"bentoml"} <= hashed, unhashed
    dockerfile = (bento / "env/docker/Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim@sha256:[0-9a-f]{64} AS base-container$", dockerfile, re.M)


def test_trained_project_passes_its_own_lint_and_pre_commit_hooks(trained_bake, shared_env, tmp_path_factory):
    """`make lint`, then every pre-commit hook (installed from PyPI alone) over all files after a run."""
    project = trained_bake("default")
    check(make(project, "lint", env=shared_env))
    check(run(["git", "add", "-A"], project))
    hooks_home = {"PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit"))}
    result = run(
        ["uv", "run", "--no-sync", "pre-commit", "run", "--all-files"], project, shared_env | hooks_home
    )
    assert result.returncode == 0, str(result)
    assert "Passed" in result.output
