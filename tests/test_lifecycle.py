"""Bakes installed and run end to end: setup, train (twice), test, gate, serve, in one shared environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import BAKES
from support import first_record, make, post_json, serving, uv_available

pytestmark = [
    pytest.mark.lifecycle,
    pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project"),
]

STAGES = ("prepare", "validate", "train", "evaluate")


def stages_run(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def target_of(project: Path) -> str:
    return yaml.safe_load((project / "params.yaml").read_text())["data"]["target"]


def check(result) -> None:
    assert result.returncode == 0, str(result)


@pytest.fixture(scope="module")
def timings() -> dict:
    recorded: dict = {}
    yield recorded
    print("\nlifecycle timings (s): " + json.dumps(recorded, indent=1))


@pytest.mark.parametrize("name", list(BAKES))
def test_generated_project_lifecycle(name, baked, shared_env, timings):
    """setup -> train -> no-op train -> test -> gate -> serve one prediction and refuse a bad request."""
    project = baked(name)
    steps = timings.setdefault(name, {})

    setup = make(project, "setup", env=shared_env)
    check(setup)
    steps["setup"] = round(setup.seconds, 1)

    first = make(project, "train", env=shared_env)
    check(first)
    assert stages_run(first.output) == list(STAGES), str(first)
    assert (project / "data/schema.json").exists(), "the first run infers the schema"
    steps["train"] = round(first.seconds, 1)

    again = make(project, "train", env=shared_env)
    check(again)
    assert stages_run(again.output) == [], f"a second train with nothing changed ran stages:\n{again}"
    steps["train_again"] = round(again.seconds, 1)

    tests = make(project, "test", env=shared_env)
    check(tests)
    summary = tests.output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert "failed" not in summary, summary
    assert "error" not in summary, summary
    steps["test"] = round(tests.seconds, 1)

    gate = make(project, "gate", env=shared_env)
    check(gate)
    assert "Model quality gate: PASS" in gate.output
    assert "is now @champion" in gate.output
    steps["gate"] = round(gate.seconds, 1)

    with serving(project, env=shared_env) as url:
        status, body = post_json(f"{url}/predict", {"records": [first_record(project, target_of(project))]})
        assert status == 200, body
        assert len(body["predictions"]) == 1
        status, body = post_json(f"{url}/predict", {"records": [{"no_such_column": 1.0}]})
        assert 400 <= status < 500, body
        assert "no_such_column" in json.dumps(body)


def test_changing_a_hyperparameter_reruns_train_and_evaluate_only(baked, shared_env):
    project = baked("default")
    check(make(project, "setup", env=shared_env))
    check(make(project, "train", env=shared_env))
    params = project / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("n_estimators: 100", "n_estimators: 60"))
    try:
        rerun = make(project, "train", env=shared_env)
        check(rerun)
        assert stages_run(rerun.output) == ["train", "evaluate"], str(rerun)
    finally:
        params.write_text(original)


def test_gate_against_a_better_baseline_fails_naming_the_metric(baked, shared_env, tmp_path):
    project = baked("regression")
    check(make(project, "setup", env=shared_env))
    check(make(project, "train", env=shared_env))
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
def test_a_bad_csv_fails_at_validate_naming_the_column(baked, shared_env, damage, column):
    project = baked("csv")
    check(make(project, "setup", env=shared_env))
    check(make(project, "train", env=shared_env))
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
