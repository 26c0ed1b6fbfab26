"""scripts/growth.py at CI size: a csv bake with a generated 30-column CSV runs every stage, measured."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from harness.tools import uv_available

pytestmark = [
    pytest.mark.lifecycle,
    pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project"),
]
SCRIPT = Path(__file__).resolve().parents[1] / "scripts/growth.py"


def growth():
    spec = importlib.util.spec_from_file_location("growth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("growth", module)
    spec.loader.exec_module(module)
    return module


def test_every_stage_is_timed_and_measured_on_a_generated_wide_csv(tmp_path, shared_env):
    script = growth()
    result = script.measure(10_000, tmp_path, shared_env)
    assert list(result["stages"]) == ["prepare", "validate", "train", "evaluate"]
    assert result["csv_mib"] > 1, "10,000 rows of 30 columns"
    for stage, measured in result["stages"].items():
        assert measured["seconds"] > 0, stage
        assert 0 < measured["cpu_seconds"] < 10 * measured["seconds"], f"{stage}: the stage's own CPU seconds"
        assert measured["peak_mib"] > 50, f"{stage}: a Python process with pandas holds more than 50 MiB"
    table = script.table([result])
    assert table.splitlines()[2].startswith("| 10,000 | ")
