"""Bad answers to the prompts: one clear line, exit non-zero, no traceback, nothing left on disk.

Answers that carry Jinja, shell or Python reach the pre-gen hook as typed (local_extensions.py keeps them
literal) and are refused like any other bad answer, without running.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.tools import TEMPLATE

# Each creates `pwned` in the folder cookiecutter runs in if it is ever executed (the test checks it is not).
RUNS_CODE_IF_RENDERED = "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}"
CASES = {
    "slug with a space and a bang": ({"project_slug": "bad slug!"}, "project_slug 'bad slug!' is not valid"),
    "slug with a path separator": ({"project_slug": "a/b"}, "project_slug 'a/b' is not valid"),
    "slug that runs code if rendered": ({"project_slug": RUNS_CODE_IF_RENDERED}, 'project_slug "{{ cycler.'),
    "package starting with a digit": ({"package_name": "1-not-python"}, "package_name '1-not-python'"),
    "package with Python in it": (
        {"package_name": "x'); __import__('os').system('touch pwned"},
        "is not a valid Python package name",
    ),
    "empty project name": ({"project_name": ""}, "project_name is empty"),
    "malformed e-mail": (
        {"author_email": "you at example"},
        "author_email 'you at example' is not an e-mail",
    ),
    "e-mail that is a command": ({"author_email": "$(touch pwned)"}, "is not an e-mail address"),
    "GitHub owner with a space": ({"github_owner": "my org"}, "github_owner 'my org' is not a GitHub user"),
    "GitHub owner with a template": ({"github_owner": "{{ 7*7 }}"}, "github_owner '{{ 7*7 }}' is not"),
    "unsupported Python version": ({"python_version": "3.9"}, "python_version '3.9' is not supported"),
    "description on two lines": ({"description": "one\ntwo"}, "description 'one\\ntwo' has a line break"),
    "slug longer than 32 characters": ({"project_slug": "a" * 40, "package_name": "a_pkg"}, "use at most 32"),
    "package that shadows a dependency": ({"package_name": "mlflow"}, "package_name 'mlflow' would shadow"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_answer_is_refused_before_anything_is_written(tmp_path: Path, case: str):
    answers, message = CASES[case]
    here, output = tmp_path / "cwd", tmp_path / "out"
    here.mkdir()
    output.mkdir()
    extra = [f"{key}={value}" for key, value in answers.items()]
    if "project_name" in answers:
        extra += ["project_slug=x-project", "package_name=x_project"]  # isolate the empty name
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(output)]
    result = subprocess.run(
        [*command, str(TEMPLATE), *extra], cwd=here, capture_output=True, text=True, check=False, timeout=120
    )
    output_text = result.stdout + result.stderr
    assert result.returncode != 0
    ours = result.stderr.strip().splitlines()
    errors = [line for line in ours if line.startswith("ERROR:")]
    assert len(ours) == 1, output_text
    assert len(errors) == 1, output_text
    assert message in errors[0]
    assert "e.g." in errors[0] or "type" in errors[0] or "choose" in errors[0], "says what to type instead"
    assert "Traceback" not in output_text
    assert list(output.iterdir()) == []
    assert list(here.iterdir()) == [], "the answer ran as code"
