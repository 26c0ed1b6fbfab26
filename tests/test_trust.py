"""Slices, fairness and the model card end to end: CSV bakes where the model is worse for one group."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import pytest
import yaml

from harness.bakes import bake, make, stages_run, trained
from harness.tools import check, uv_available

pytestmark = [
    pytest.mark.lifecycle,
    pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project"),
]

WORSE = "gamma"


def write_grouped_csv(path: Path, task: str, target: str, rows: int = 600, seed: int = 5) -> None:
    """Two numeric columns decide the label, except in segment gamma where the label is mostly noise:
    any model is measurably worse for that group."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "x2", "segment", target])
        for _ in range(rows):
            x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1)
            segment = rng.choice(["alpha", "beta", WORSE])
            signal = x1 + 0.5 * x2
            if task == "classification":
                noisy = segment == WORSE and rng.random() < 0.8
                label = rng.choice(["yes", "no"]) if noisy else ("yes" if signal > 0 else "no")
            else:
                label = round(10 * signal + rng.gauss(0, 15 if segment == WORSE else 1), 3)
            writer.writerow([round(x1, 4), round(x2, 4), segment, label])


def set_params(project: Path, change) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    change(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


# Per task: how the segment is used, a rule the worse group breaks, and the same rule widened.
CASES = {
    "classification": {
        "exclude": ["segment"],  # a column kept out of the features, like a protected attribute
        "strict": {"accuracy": {"min": 0.8, "max_gap": 0.15}},
        "wide": {"accuracy": {"min": 0.3, "max_gap": 0.7}},
        "broken": "below the minimum 0.8",
    },
    "regression": {
        "exclude": [],  # a categorical feature of the model
        "strict": {"mae": {"max": 5.0, "max_gap": 4.0}},
        "wide": {"mae": {"max": 50.0, "max_gap": 50.0}},
        "broken": "above the maximum 5",
    },
}


@pytest.mark.parametrize("task", list(CASES))
def test_the_slice_gate_fails_naming_the_worse_group_and_passes_when_widened(
    task, shared_env, tmp_path_factory
):
    case = CASES[task]
    project = bake(
        tmp_path_factory.mktemp(f"slices-{task}"),
        dataset="csv",
        task=task,
        target_column="outcome",
        project_name=f"Sliced {task}",
    )
    write_grouped_csv(project / "data/raw/data.csv", task, "outcome")

    def strict(params: dict) -> None:
        params["data"]["exclude_from_features"] = case["exclude"]
        params["slices"] = {"columns": ["segment"], "min_group_size": 20, "metrics": case["strict"]}

    set_params(project, strict)
    trained(project, shared_env)
    schema = json.loads((project / "data/schema.json").read_text())
    assert schema.get("excluded") == (case["exclude"] or None)

    failing = make(project, "gate", "GATE_ARGS=--no-promote", env=shared_env)
    assert failing.returncode != 0, str(failing)
    report = (project / "reports/gate.md").read_text()
    assert report.startswith("## Model quality gate: FAIL"), report
    assert re.search(rf"- slice segment={WORSE} \(\d+ rows\): .*{case['broken']}", report), report
    assert "| segment | rows |" in report
    assert re.search(rf"\| \*\*worst group\*\* \| \| .*{WORSE}", report), report
    print(f"\n--- {task}: failing gate report ---\n{report}")

    set_params(project, lambda params: params["slices"].update(metrics=case["wide"]))
    passing = make(project, "gate", "GATE_ARGS=--no-promote", env=shared_env)
    check(passing)
    report = (project / "reports/gate.md").read_text()
    assert report.startswith("## Model quality gate: PASS"), report
    assert f"| {WORSE} | " in report
    print(f"\n--- {task}: passing gate report ---\n{report}")

    if task == "classification":
        slices = json.loads((project / "reports/slices.json").read_text())["columns"]["segment"]
        assert slices["fairness"]["equalized_odds"] > 0.1, "the noisy group's error rates differ"
        set_params(project, lambda params: params["slices"].update(columns=["segmnt"]))
        typo = make(project, "train", env=shared_env)
        assert typo.returncode != 0
        assert "slices.columns names 'segmnt', which is not a column of the data" in typo.output, str(typo)
        assert "Running stage 'train'" not in typo.output


def test_default_card_carries_the_team_sections_and_warns_on_main_until_written(trained_bake, shared_env):
    project = trained_bake("default")
    card = (project / "MODEL_CARD.md").read_text()
    assert "> **This card is incomplete:**" in card.split("## Purpose")[0]
    for section in ("## Metrics", "mean ± std (5 folds on 455 rows)", "## Feature importance", "sha256 `"):
        assert section in card
    gate = make(project, "gate", "GATE_ARGS=--no-promote", env=shared_env)
    check(gate)
    assert "warning: the model card on main still has placeholder sections" in gate.output

    human = project / "docs/model_card.yaml"
    original = human.read_text()
    sections = yaml.safe_load(original)
    written = {name: f"Written by the team: {name}." for name in sections}
    human.write_text(yaml.safe_dump(written))
    try:
        rerun = make(project, "train", env=shared_env)
        check(rerun)
        assert stages_run(rerun.output) == ["evaluate"], "only the card's stage reruns"
        card = (project / "MODEL_CARD.md").read_text()
        assert "incomplete" not in card
        assert "## Purpose\n\nWritten by the team: purpose.\n" in card
        gate = make(project, "gate", "GATE_ARGS=--no-promote", env=shared_env)
        check(gate)
        assert "placeholder sections" not in gate.output
    finally:
        human.write_text(original)
