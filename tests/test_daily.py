"""Daily use of a bake: plots DVC can compare across commits, `make help` that lists every rule with its
variables, and a dev container valid against the Dev Container spec (the subset in tests/schemas)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest
from test_matrix import makefile_targets

from harness.bakes import bake, make
from harness.processes import free_port, post_json, started
from harness.tools import check, run, uv_available

BIN = Path(sys.executable).parent  # the template's environment: check-jsonschema is a dev dependency
DEVCONTAINER_SCHEMA = Path(__file__).parent / "schemas" / "devcontainer.json"
SPEC = re.compile(r'<div id = "([^"]+)">\s*<script type = "text/javascript">\s*var spec = ')


def plot_specs(html: str) -> dict[str, dict]:
    """The Vega-Lite spec of each plot in the HTML `dvc plots show/diff` writes, by plot id."""
    decoder = json.JSONDecoder()
    return {match[1]: decoder.raw_decode(html, match.end())[0] for match in SPEC.finditer(html)}


def points(spec: dict, x: str, y: str, rev: str) -> list[tuple[float, float]]:
    return [(float(v[x]), float(v[y])) for v in spec["data"]["values"] if v["rev"] == rev]


def csv_points(text: str, x: str, y: str) -> list[tuple[float, float]]:
    return [(float(row[x]), float(row[y])) for row in csv.DictReader(io.StringIO(text))]


def help_lines(project: Path) -> dict[str, str]:
    result = make(project, "help")
    check(result)
    return {m[1]: m[2] for m in re.finditer(r"^  make (\S+)\s*(.*)$", result.output, re.M)}


def test_make_help_lists_every_rule_of_the_makefile_with_its_variables(baked):
    """Every rule name the Makefile defines (digits included: k8s-render) is in `make help`, with the
    variables its recipe reads, followed through internal variables (smoke reads VERSION via BENTO_TAG)."""
    project = baked("default")
    rules = makefile_targets((project / "Makefile").read_text())
    listed = help_lines(project)
    assert {"k8s-render", "plots", "mlflow-ui"} <= rules
    assert sorted(rules - set(listed)) == []
    assert "OVERLAY=" in listed["k8s-render"]
    assert "BASELINE= GATE_ARGS=" in listed["gate"]
    assert "REV=" in listed["plots"]
    assert "VERSION=" in listed["smoke"]
    assert all(text.strip() for text in listed.values()), "every target says what it does"


def test_devcontainer_follows_the_bake_and_the_dev_container_spec(tmp_path):
    """The bake's Python version picks the image, creation runs `make setup`, and the file validates
    against the spec's types; a misspelt key is refused (the schema is closed)."""
    project = bake(tmp_path, python_version="3.13", project_name='A "quoted" name')
    path = project / ".devcontainer/devcontainer.json"
    config = json.loads(path.read_text())
    assert config["image"].endswith(":1-3.13-bookworm")
    assert config["name"] == 'A "quoted" name'
    assert config["postCreateCommand"].endswith("make setup")
    assert "setup" in makefile_targets((project / "Makefile").read_text())
    tool = str(BIN / "check-jsonschema")
    check(run([tool, "--schemafile", str(DEVCONTAINER_SCHEMA), str(path)], project))
    misspelt = tmp_path / "misspelt.json"
    misspelt.write_text(json.dumps({**config, "postCreateComand": config.pop("postCreateCommand")}))
    refused = run([tool, "--schemafile", str(DEVCONTAINER_SCHEMA), str(misspelt)], project)
    assert refused.returncode != 0
    assert "postCreateComand" in refused.output


@pytest.mark.lifecycle
@pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project")
def test_dvc_plots_show_the_curves_and_diff_overlays_two_commits(trained_bake, shared_env):
    """`make plots` renders the ROC, precision-recall and confusion data the evaluate stage wrote;
    after a hyperparameter change and a retrain, `make plots REV=HEAD` holds both revisions' curves."""
    project = trained_bake("default", own=True)  # its MLflow store names its own folder (relocate)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    check(run([*git, "add", "-A"], project))
    check(run([*git, "commit", "-qm", "trained", "--no-verify"], project))
    committed = (project / "reports/curves/roc.csv").read_text()

    check(make(project, "plots", env=shared_env))
    shown = plot_specs((project / "build/plots/index.html").read_text())
    assert {"roc", "precision_recall", "confusion_matrix"} <= set(shown)
    roc, confusion = shown["roc"], shown["confusion_matrix"]
    assert points(roc, "fpr", "tpr", "workspace") == csv_points(committed, "fpr", "tpr")
    test_rows = sum(1 for _ in (project / "data/prepared/test.csv").open()) - 1
    assert len(confusion["data"]["values"]) == test_rows

    params = project / "params.yaml"
    params.write_text(params.read_text().replace("max_depth: null", "max_depth: 1", 1))
    check(make(project, "train", env=shared_env))
    check(make(project, "plots", "REV=HEAD", env=shared_env))
    diffed = plot_specs((project / "build/plots/index.html").read_text())
    roc = diffed["roc"]
    before, after = points(roc, "fpr", "tpr", "HEAD"), points(roc, "fpr", "tpr", "workspace")
    assert before == csv_points(committed, "fpr", "tpr")
    assert after == csv_points((project / "reports/curves/roc.csv").read_text(), "fpr", "tpr")
    assert before != after, "a depth-1 forest draws another ROC curve"


@pytest.mark.lifecycle
@pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project")
def test_regression_plots_are_predicted_vs_actual_and_residuals(trained_bake, shared_env):
    """A regression bake's `make plots` draws predicted-vs-actual and residuals from the held-out rows."""
    project = trained_bake("regression")
    check(make(project, "plots", env=shared_env))
    shown = plot_specs((project / "build/plots/index.html").read_text())
    scatter, residuals = shown["predicted_vs_actual"], shown["residuals"]
    rows = list(csv.DictReader((project / "reports/curves/predictions.csv").open()))
    assert len(scatter["data"]["values"]) == len(rows) > 0
    for value in residuals["data"]["values"]:
        assert float(value["residual"]) == pytest.approx(
            float(value["actual"]) - float(value["predicted"]), abs=1e-4
        )


@pytest.mark.lifecycle
@pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project")
def test_make_mlflow_ui_serves_the_projects_own_runs_on_loopback(trained_bake, shared_env, tmp_path):
    """`make mlflow-ui` opens the project's tracking store (its experiment is listed) on 127.0.0.1."""
    project = trained_bake("regression")
    port = free_port()
    search = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search"
    answers: list[tuple[int, dict]] = []

    def answered() -> bool:
        with contextlib.suppress(OSError, ValueError):
            answers.append(post_json(search, {"max_results": 10}, timeout=5))
        return bool(answers)

    command = ["make", "--no-print-directory", "mlflow-ui", f"MLFLOW_PORT={port}"]
    log = tmp_path / "mlflow-ui.log"
    with started("make mlflow-ui", command, log, answered, cwd=project, env=shared_env, ready_within=120):
        status, answer = answers[-1]
        assert status == 200, log.read_text()[-3000:]
        assert "diabetes-regressor" in [experiment["name"] for experiment in answer["experiments"]]
