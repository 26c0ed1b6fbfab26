"""k-fold cross-validated metrics on the training split, and the gate check that uses their spread."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from ..data import release_freed_memory
from ..metrics import HIGHER_IS_BETTER, score
from ..model import fit_estimator, fit_preprocessing, rows_per_tree


def sampled_rows(rows: int, max_rows: int | None) -> int:
    """How many of `rows` training rows cross-validation uses."""
    return rows if max_rows is None else min(rows, max_rows)


def sample(features: pd.DataFrame, target: pd.Series, max_rows: int | None, seed: int):
    """At most `max_rows` rows of the training split: a random sample beyond, in the split's order.

    The folds estimate how much a metric moves from one sample of the data to another; past a few hundred
    thousand rows more rows tell little more, while every fold fits the pipeline again. On the
    1,000,000-row data of the template's scripts/growth.py (800,000 training rows), five folds on all of
    them were most of the evaluate stage's time and memory."""
    if sampled_rows(len(features), max_rows) == len(features):
        return features, target
    kept = np.sort(np.random.default_rng(seed).choice(len(features), size=max_rows, replace=False))
    return features.iloc[kept], target.iloc[kept]


def _fold(task: str, pipeline, features: pd.DataFrame, target: pd.Series, train, test) -> dict:
    unfitted = rows_per_tree(clone(pipeline), len(train))
    # The fold's rows are a copy, gone once the estimator's input is made of them (model.py).
    matrix = fit_preprocessing(unfitted, features.iloc[train])
    fitted = fit_estimator(unfitted, matrix, target.iloc[train])
    del matrix
    result = score(task, fitted, features.iloc[test], target.iloc[test])
    del fitted
    release_freed_memory()  # or every fold adds what its fitting freed to the process (model.py)
    return result


def cross_validate(
    task: str, pipeline, features: pd.DataFrame, target: pd.Series, folds: int, seed: int
) -> dict[str, dict]:
    """Fit an unfitted `pipeline` on k-1 folds, score the k-th (stratified on the label for
    classification); per metric: mean, sample standard deviation and the fold values."""
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if task == "classification"
        else KFold(folds, shuffle=True, random_state=seed)
    )
    # One fold at a time, each fitted on every core as the train stage fits: one fold's copies of the data
    # at a time. On 1,000,000 rows the evaluate stage peaked at 4.0 GiB with two folds at once (4 min 5 s)
    # and at 2.8 GiB one at a time with each fold's freed memory handed back (4 min 3 s).
    folds = splitter.split(features, target)
    scores = [_fold(task, pipeline, features, target, train, test) for train, test in folds]
    result = {}
    for name in scores[0]:
        values = np.array([fold[name] for fold in scores], dtype=float)
        result[name] = {
            "mean": round(float(np.nanmean(values)), 6),
            "std": round(float(np.nanstd(values, ddof=1)), 6),
            "folds": [round(float(value), 6) for value in values],
        }
    return result


def deviation_failures(gated: list[str], heldout: dict, crossval: dict, max_std: float | None) -> list[str]:
    """A held-out metric worse than its cross-validated mean by more than `max_std` standard deviations:
    the split was unlucky or the model is unstable; either way the held-out number is not to be trusted."""
    if max_std is None:
        return []
    failures = []
    for name in gated:
        if name not in heldout or name not in crossval:
            continue
        mean, std, value = crossval[name]["mean"], crossval[name]["std"], heldout[name]
        worse_by = (mean - value) if HIGHER_IS_BETTER[name] else (value - mean)
        if worse_by > max_std * std + 1e-12:
            failures.append(
                f"held-out {name} = {value:.4g} is worse than the cross-validated mean {mean:.4g} by "
                f"{worse_by:.4g}, more than {max_std:g} x std {std:.4g}"
            )
    return failures


def markdown(
    heldout: dict, crossval: dict, folds: int, max_std: float | None, max_rows: int | None
) -> list[str]:
    """Held-out beside cross-validated mean ± std for every metric."""
    allowed = f"held-out within {max_std:g} std of the mean" if max_std is not None else "not gated"
    rows = "the training split" if max_rows is None else f"at most {max_rows:,} rows of the training split"
    lines = [
        f"### Cross-validation ({folds} folds on {rows}; {allowed})",
        "",
        "| metric | held-out | cross-validated mean ± std |",
        "|---|---:|---:|",
    ]
    for name, value in heldout.items():
        spread = crossval.get(name)
        interval = f"{spread['mean']:.4f} ± {spread['std']:.4f}" if spread else "-"
        lines.append(f"| {name} | {value:.4f} | {interval} |")
    return lines
