"""`make train` skips DVC only when every file DVC would look at is as the last successful repro left it."""

from __future__ import annotations

import os

import pytest
import yaml

from {{ cookiecutter.package_name }}.pipeline_state import main

STAGE = {"cmd": "python fit.py", "deps": ["fit.py", "data"], "params": ["alpha"], "outs": ["model.bin"]}


@pytest.fixture
def pipeline(tmp_path, monkeypatch):
    """A repro'd pipeline: dvc.yaml, its lock, params, a script, a data folder and the model."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    for name, text in {
        "fit.py": "print()",
        "data/a.csv": "x\n1\n",
        "model.bin": "m",
        "params.yaml": "alpha: 1\n",
    }.items():
        (tmp_path / name).write_text(text)
    write_pipeline(STAGE)
    lock = {
        "stages": {
            "fit": {
                "cmd": STAGE["cmd"],
                "params": {"params.yaml": {"alpha": 1}},
                "deps": [{"path": "fit.py"}, {"path": "data"}],
                "outs": [{"path": "model.bin"}],
            }
        }
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert main(["save"]) == 0
    return tmp_path


def write_pipeline(stage: dict) -> None:
    with open("dvc.yaml", "w") as handle:
        yaml.safe_dump({"stages": {"fit": stage}}, handle)


def test_nothing_touched_since_the_last_repro_skips_dvc(pipeline):
    assert main(["check"]) == 0
    assert main(["check"]) == 0


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "params.yaml").write_text("alpha: 2\n"),
        lambda root: (root / "data/b.csv").write_text("x\n2\n"),  # a new file in a dependency folder
        lambda root: (root / "data/a.csv").write_text("x\n3\n"),  # same size, new content and time
        lambda root: os.utime(root / "fit.py", ns=(1, 1)),  # content unknown: DVC decides
        lambda root: (root / "model.bin").unlink(),
        lambda root: (root / "dvc.lock").write_text((root / "dvc.lock").read_text() + "\n"),
    ],
    ids=["params", "new-data-file", "edited-data", "touched-code", "deleted-output", "lock"],
)
def test_any_change_to_an_input_output_or_pipeline_file_runs_dvc_until_a_repro_succeeds(pipeline, change):
    change(pipeline)
    assert main(["check"]) == 1
    assert main(["check"]) == 1, "the record is gone: only a repro that succeeds writes it again"
    assert main(["save"]) == 0
    assert main(["check"]) == 0


@pytest.mark.parametrize(
    "stage",
    [
        STAGE | {"always_changed": True},
        {k: v for k, v in STAGE.items() if k != "deps"},
        STAGE | {"cmd": "fit ${a}"},
    ],
    ids=["always-changed", "no-dependencies", "templated"],
)
def test_stages_dvc_runs_whatever_their_inputs_are_never_skipped(pipeline, stage):
    write_pipeline(stage)
    assert main(["save"]) == 0
    assert main(["check"]) == 1


def test_a_stage_missing_from_the_lock_is_never_skipped(pipeline):
    with open("dvc.yaml", "w") as handle:
        yaml.safe_dump({"stages": {"fit": STAGE, "report": STAGE}}, handle)
    assert main(["save"]) == 0
    assert main(["check"]) == 1
