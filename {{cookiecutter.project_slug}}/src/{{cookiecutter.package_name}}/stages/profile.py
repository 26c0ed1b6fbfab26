"""Stage profile: the training reference the service's metrics and alerts compare live traffic with."""

from __future__ import annotations

import pandas as pd

from ..config import load_params
from ..data import TEST_PATH, TRAIN_PATH, features_and_target
from ..model import MODEL_PATH, load_model
from ..monitoring.profile import PROFILE_PATH, build_profile, save_profile
from ..schema import SCHEMA_PATH, Schema, conform
from ..tracking import git_commit, read_run


def main() -> None:
    params = load_params()
    schema = Schema.load(SCHEMA_PATH)
    train, _ = features_and_target(pd.read_csv(TRAIN_PATH), params.data.target)
    held_out, _ = features_and_target(pd.read_csv(TEST_PATH), params.data.target)
    predictions = pd.Series(load_model(MODEL_PATH).predict(conform(held_out, schema)))
    about = {"run_id": read_run()["run_id"], "git_commit": git_commit()}
    profile = build_profile(
        schema, conform(train, schema), predictions, params.task == "classification", about
    )
    save_profile(profile, PROFILE_PATH)
    numeric, categorical = len(profile["numeric"]), len(profile["categorical"])
    print(f"profile: {numeric} numeric, {categorical} categorical features -> {PROFILE_PATH}")


if __name__ == "__main__":
    main()
