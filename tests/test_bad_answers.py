"""Bad answers to the prompts: one clear line, exit non-zero, no traceback, nothing left on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import TEMPLATE

CASES = {
    "slug with a space and a bang": ({"project_slug": "bad slug!"}, "project_slug 'bad slug!' is not valid"),
    "package starting with a digit": ({"package_name": "1-not-python"}, "package_name '1-not-python'"),
    "empty project name": ({"project_name": ""}, "project_name is empty"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_answer_is_refused_before_anything_is_written(tmp_path: Path, case: str):
    answers, message = CASES[case]
    extra = [f"{key}={value}" for key, value in answers.items()]
    if "project_name" in answers:
        extra += ["project_slug=x-project", "package_name=x_project"]  # isolate the empty name
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(tmp_path)]
    result = subprocess.run(
        [*command, str(TEMPLATE), *extra], capture_output=True, text=True, check=False, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    ours = result.stderr.strip().splitlines()
    errors = [line for line in ours if line.startswith("ERROR:")]
    assert len(ours) == 1, output
    assert len(errors) == 1, output
    assert message in errors[0]
    assert "e.g." in errors[0] or "type" in errors[0], "the line says what to type instead"
    assert "Traceback" not in output
    assert list(tmp_path.iterdir()) == []
