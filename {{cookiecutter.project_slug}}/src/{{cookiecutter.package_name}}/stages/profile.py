"""Stage profile: the training reference the service's metrics and alerts compare live traffic with."""

from __future__ import annotations

import pandas as pd

from ..config import load_params
from ..data import TRAIN_PATH, features_and_target
from ..model_io import load_predictions, read_run
from ..monitoring.profile import PROFILE_PATH, build_profile, save_profile
from ..schema import SCHEMA_PATH, Schema, conform


def main() -> None:
    params = load_params()
    schema = Schema.load(SCHEMA_PATH)
    train, _ = features_and_target(pd.read_csv(TRAIN_PATH), params.data.target)
    # What the model predicts on the held-out split, as evaluate wrote it: loading the model here again
    # would cost this stage most of its time (docs/decisions.md).
    predictions = pd.Series(load_predictions())
    run = read_run()
    about = {"run_id": run["run_id"], "git_commit": run.get("git_commit", "unknown")}
    profile = build_profile(
        schema, conform(train, schema), predictions, params.task == "classification", about
    )
    save_profile(profile, PROFILE_PATH)
    numeric, categorical = len(profile["numeric"]), len(profile["categorical"])
    print(f"profile: {numeric} numeric, {categorical} categorical features -> {PROFILE_PATH}")


if __name__ == "__main__":
    main()
