"""Global feature importance on the held-out split: how much a metric worsens when a column is shuffled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance

from ..metrics import HIGHER_IS_BETTER, classification_scores, regression_scores
from .crossval import N_JOBS


def scorer(task: str, metric: str):
    """score(estimator, X, y) for one metric, higher meaning better (lower-is-better metrics negated).
    One predict_proba per call: the predicted class is its argmax, as the classifiers here predict."""
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0

    def score(estimator, features: pd.DataFrame, target: pd.Series) -> float:
        if task == "classification":
            proba = estimator.predict_proba(features)
            classes = list(estimator.classes_)
            predicted = estimator.classes_[proba.argmax(axis=1)]
            return sign * classification_scores(target, predicted, proba, classes)[metric]
        return sign * regression_scores(target, estimator.predict(features))[metric]

    return score


def permutation(
    task: str, model, features: pd.DataFrame, target: pd.Series, metric: str, n_repeats: int, seed: int
) -> dict:
    """Per input column (before encoding): mean and std, over `n_repeats` shuffles, of how much the
    metric worsens."""
    result = permutation_importance(
        model,
        features,
        target,
        scoring=scorer(task, metric),
        n_repeats=n_repeats,
        random_state=seed,
        n_jobs=N_JOBS,
    )
    ranked = sorted(
        zip(features.columns, result.importances_mean, result.importances_std, strict=True),
        key=lambda item: -item[1],
    )
    return {
        "metric": metric,
        "n_repeats": n_repeats,
        "features": [
            {"feature": str(name), "mean": round(float(mean), 6), "std": round(float(std), 6)}
            for name, mean, std in ranked
        ],
    }


def plot(importance: dict, path: Path, top: int) -> Path:
    """Horizontal bars of the `top` features, with the spread over repeats as error bars."""
    rows = importance["features"][:top][::-1]
    figure = Figure(figsize=(6, 0.3 * len(rows) + 1.2))
    axes = figure.subplots()
    axes.barh(
        [row["feature"] for row in rows], [row["mean"] for row in rows], xerr=[row["std"] for row in rows]
    )
    axes.axvline(0.0, color="grey", linewidth=1)
    axes.set(xlabel=f"worsening of {importance['metric']} when shuffled", title="Permutation importance")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def markdown(importance: dict, top: int) -> list[str]:
    metric = importance["metric"]
    lines = [
        f"| rank | feature | worsening of {metric} when shuffled "
        f"(mean ± std of {importance['n_repeats']} repeats) |",
        "|---:|---|---:|",
    ]
    for rank, row in enumerate(importance["features"][:top], start=1):
        lines.append(f"| {rank} | {row['feature']} | {row['mean']:.4f} ± {row['std']:.4f} |")
    return lines
