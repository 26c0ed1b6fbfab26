"""Stage prepare: write the raw data (demo) or read the team's CSV, then split it reproducibly."""

from __future__ import annotations

from ..config import load_params
from ..data import RAW_PATH, TEST_PATH, TRAIN_PATH, load_demo, read_csv, split


def main() -> None:
    params = load_params()
    if params.data.source == "demo":
        frame = load_demo(params.task, params.data.target)
        RAW_PATH.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(RAW_PATH, index=False)
    else:
        frame = read_csv(RAW_PATH)
    train, test = split(frame, params.data, params.task)
    TRAIN_PATH.parent.mkdir(parents=True, exist_ok=True)
    train.to_csv(TRAIN_PATH, index=False)
    test.to_csv(TEST_PATH, index=False)
    print(f"prepare: {len(train)} training rows, {len(test)} test rows, {frame.shape[1] - 1} features")


if __name__ == "__main__":
    main()
