"""k-fold cross-validated metrics on the training split, and the gate check that uses their spread."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from ..metrics import HIGHER_IS_BETTER, score

# Two workers at most: the folds are few and small, and CI runners (and this machine) have two cores.
N_JOBS = min(2, os.cpu_count() or 1)


def _fold(task: str, pipeline, features: pd.DataFrame, target: pd.Series, train, test) -> dict:
    fitted = clone(pipeline).fit(features.iloc[train], target.iloc[train])
    return score(task, fitted, features.iloc[test], target.iloc[test])


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
    # Threads: tree fitting and prediction release the GIL, and nothing is copied to a worker process.
    scores = Parallel(n_jobs=N_JOBS, prefer="threads")(
        delayed(_fold)(task, pipeline, features, target, train, test)
        for train, test in splitter.split(features, target)
    )
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


def markdown(heldout: dict, crossval: dict, folds: int, max_std: float | None) -> list[str]:
    """Held-out beside cross-validated mean ± std for every metric."""
    allowed = f"held-out within {max_std:g} std of the mean" if max_std is not None else "not gated"
    lines = [
        f"### Cross-validation ({folds} folds on the training split; {allowed})",
        "",
        "| metric | held-out | cross-validated mean ± std |",
        "|---|---:|---:|",
    ]
    for name, value in heldout.items():
        spread = crossval.get(name)
        interval = f"{spread['mean']:.4f} ± {spread['std']:.4f}" if spread else "-"
        lines.append(f"| {name} | {value:.4f} | {interval} |")
    return lines
