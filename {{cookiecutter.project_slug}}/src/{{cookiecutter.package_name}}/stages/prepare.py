"""Stage prepare: write the raw data (demo) or take the team's CSV, then split its rows reproducibly."""

from __future__ import annotations

from ..config import load_params
from ..data import RAW_PATH, TEST_PATH, TRAIN_PATH, load_demo, split_csv


def main() -> None:
    params = load_params()
    if params.data.source == "demo":
        RAW_PATH.parent.mkdir(parents=True, exist_ok=True)
        load_demo(params.task, params.data.target).to_csv(RAW_PATH, index=False)
    # The rows are moved, never parsed into numbers and written back: the halves hold the raw file's text.
    train, test, features = split_csv(RAW_PATH, TRAIN_PATH, TEST_PATH, params.data, params.task)
    print(f"prepare: {train} training rows, {test} test rows, {features} features")


if __name__ == "__main__":
    main()
