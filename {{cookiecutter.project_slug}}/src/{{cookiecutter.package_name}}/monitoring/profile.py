"""The reference of the service's metrics: training deciles and shares, the held-out prediction mix.

Written by the `profile` stage to models/profile.json and shipped in the bento. Numeric columns get the
deciles of the training split as histogram buckets (ties merged, so a column with many equal values has
fewer buckets) and the share of training values at or below each; categorical columns the share of each
category. The predictions' reference is what the model predicts on the held-out split: data like the
training data that the model did not fit, so under no drift the live mix matches it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..schema import Schema

PROFILE_PATH = Path("models/profile.json")
DECILES = np.linspace(0.1, 0.9, 9)


def numeric_reference(values: pd.Series) -> dict[str, list[float]]:
    """Bucket edges (the distinct deciles) and the share of values at or below each edge."""
    present = np.sort(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float))
    if not len(present):
        return {"edges": [], "cdf": []}
    edges = np.unique(np.quantile(present, DECILES))
    cdf = np.searchsorted(present, edges, side="right") / len(present)
    return {"edges": [float(edge) for edge in edges], "cdf": [round(float(share), 6) for share in cdf]}


def shares(values: pd.Series) -> dict[str, float]:
    """The share of each value among the present ones, as text (how the service counts them)."""
    counts = values.dropna().astype(str).value_counts(normalize=True).sort_index()
    return {str(name): round(float(share), 6) for name, share in counts.items()}


def build_profile(
    schema: Schema, train: pd.DataFrame, predictions: pd.Series, classification: bool, about: dict[str, str]
) -> dict:
    """The reference of every feature of `schema` in `train`, and of `predictions` (held-out)."""
    numeric = {name: numeric_reference(train[name]) for name in schema.numeric_features}
    categorical = {
        column.name: shares(train[column.name])
        for column in schema.features
        if not column.numeric and column.categories is not None
    }
    prediction = {"shares": shares(predictions)} if classification else numeric_reference(predictions)
    return {"model": about, "numeric": numeric, "categorical": categorical, "prediction": prediction}


def save_profile(profile: dict, path: Path = PROFILE_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")


def load_profile(path: Path = PROFILE_PATH) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
