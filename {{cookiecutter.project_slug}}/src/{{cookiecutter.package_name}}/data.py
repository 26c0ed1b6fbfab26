"""Reading the raw data (bundled demo or the team's CSV) and the reproducible train/test split."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
from sklearn import datasets
from sklearn.model_selection import train_test_split

from .config import DataConfig

RAW_PATH = Path("data/raw/data.csv")
TRAIN_PATH = Path("data/prepared/train.csv")
TEST_PATH = Path("data/prepared/test.csv")

# Bundled with scikit-learn, so nothing is downloaded.
DEMO_LOADERS = {"classification": datasets.load_breast_cancer, "regression": datasets.load_diabetes}


def snake_case(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def load_demo(task: str, target: str) -> pd.DataFrame:
    """The demo dataset for `task`, with snake_case column names and the label in `target`."""
    bunch = DEMO_LOADERS[task](as_frame=True)
    frame = bunch.data.rename(columns=snake_case)
    frame[target] = bunch.target
    return frame


def read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: copy your data there (see README, 'Bring your own CSV')")
    return pd.read_csv(path)


def split(frame: pd.DataFrame, config: DataConfig, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split; stratified on the label for classification so both halves see every class."""
    if config.target not in frame.columns:
        raise KeyError(f"target column {config.target!r} not found; columns are {list(frame.columns)}")
    stratify = frame[config.target] if task == "classification" else None
    train, test = train_test_split(
        frame, test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def features_and_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]
