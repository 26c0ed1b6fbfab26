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
    features = frame.shape[1] - 1
    train, test = split(frame, params.data, params.task)
    del frame  # the halves are copies: holding the whole frame too would double the peak memory
    TRAIN_PATH.parent.mkdir(parents=True, exist_ok=True)
    rows = len(train), len(test)
    train.to_csv(TRAIN_PATH, index=False)
    del train
    test.to_csv(TEST_PATH, index=False)
    print(f"prepare: {rows[0]} training rows, {rows[1]} test rows, {features} features")


if __name__ == "__main__":
    main()
