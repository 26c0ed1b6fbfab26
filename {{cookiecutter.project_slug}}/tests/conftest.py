"""Shared fixtures: the project's params, and the pipeline's artifacts (skipped until `make train`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import Params, load_params
from {{ cookiecutter.package_name }}.data import TEST_PATH
from {{ cookiecutter.package_name }}.model import MODEL_PATH
from {{ cookiecutter.package_name }}.model_io import HELDOUT_PREDICTIONS_PATH
from {{ cookiecutter.package_name }}.schema import SCHEMA_PATH, Schema

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _project_root() -> None:
    """Paths in the package are relative to the project root, as when DVC runs the stages."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        yield


@pytest.fixture(scope="session")
def params(_project_root) -> Params:
    return load_params()


def _require(path: Path) -> Path:
    if not (ROOT / path).exists():
        pytest.skip(f"{path} does not exist yet: run `make train` first")
    return ROOT / path


@pytest.fixture(scope="session")
def schema() -> Schema:
    return Schema.load(_require(SCHEMA_PATH))


@pytest.fixture(scope="session")
def held_out() -> pd.DataFrame:
    return pd.read_csv(_require(TEST_PATH))


@pytest.fixture(scope="session")
def model_path() -> Path:
    return _require(MODEL_PATH)


@pytest.fixture(scope="session")
def heldout_predictions_path() -> Path:
    return _require(HELDOUT_PREDICTIONS_PATH)


@pytest.fixture
def tiny_frame() -> pd.DataFrame:
    """Six rows with a numeric, a categorical and a missing value: small enough to reason about."""
    return six_rows()


@pytest.fixture(scope="session")
def tiny_frame_once() -> pd.DataFrame:
    """The same six rows for fixtures of wider scope; read only (`assign` and `drop` make copies)."""
    return six_rows()


def six_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": [1.0, 2.5, None, 4.0, 5.5, 6.0],
            "colour": ["red", "blue", "red", None, "blue", "red"],
            "count": [1, 2, 3, 4, 5, 6],
            "label": [0, 1, 0, 1, 0, 1],
        }
    )
