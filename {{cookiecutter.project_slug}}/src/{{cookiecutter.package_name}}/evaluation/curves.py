"""Held-out curves as DVC plot data (CSV): `dvc plots show` renders them, `dvc plots diff` overlays commits.

Classification: the ROC and precision-recall curves of the positive class (micro-averaged one-vs-rest
beyond two classes) and one (actual, predicted) row per held-out row for the confusion matrix.
Regression: actual, predicted and residual per held-out row. The templates are declared in dvc.yaml.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve
from sklearn.preprocessing import label_binarize

from ..metrics import answers

CURVES_DIR = Path("reports/curves")
# Enough points for a smooth line or a readable scatter; keeps the HTML of `dvc plots show` small when
# the held-out split has hundreds of thousands of rows. The confusion matrix keeps every row (exact counts).
MAX_POINTS = 1000


def thin(frame: pd.DataFrame, limit: int = MAX_POINTS) -> pd.DataFrame:
    """At most `limit` rows, evenly spaced, first and last kept (a curve keeps its end points)."""
    if len(frame) <= limit:
        return frame
    return frame.iloc[np.unique(np.linspace(0, len(frame) - 1, limit).round().astype(int))]


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, float_format="%.6g")
    return path


def scores_of_positive(model, features: pd.DataFrame, target: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(is positive, score) pairs: the second class for two classes, every class one-vs-rest beyond."""
    classes = list(model.classes_)
    proba = answers(model, features, "predict_proba")
    if len(classes) == 2:
        return (np.asarray(target) == classes[1]).astype(int), proba[:, 1]
    return label_binarize(target, classes=classes).ravel(), proba.ravel()


def classification_curves(model, features: pd.DataFrame, target: pd.Series, folder: Path) -> list[Path]:
    truth, score = scores_of_positive(model, features, target)
    fpr, tpr, roc_thresholds = roc_curve(truth, score)
    precision, recall, pr_thresholds = precision_recall_curve(truth, score)
    roc = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.clip(roc_thresholds, None, 1.0)})
    # precision_recall_curve ends at recall 0 with no threshold; sorted by recall for a left-to-right line.
    pr = pd.DataFrame({"recall": recall, "precision": precision, "threshold": [*pr_thresholds, 1.0]})
    confusion = pd.DataFrame(
        {"actual": np.asarray(target).astype(str), "predicted": answers(model, features).astype(str)}
    )
    return [
        _write(thin(roc), folder / "roc.csv"),
        _write(thin(pr.iloc[::-1]), folder / "precision_recall.csv"),
        _write(confusion, folder / "confusion.csv"),
    ]


def regression_curves(model, features: pd.DataFrame, target: pd.Series, folder: Path) -> list[Path]:
    actual = np.asarray(target, dtype=float)
    predicted = np.asarray(answers(model, features), dtype=float)
    rows = pd.DataFrame({"actual": actual, "predicted": predicted, "residual": actual - predicted})
    return [_write(thin(rows), folder / "predictions.csv")]


def write_curves(task: str, model, features: pd.DataFrame, target: pd.Series, folder: Path = CURVES_DIR):
    """Write the task's plot data under `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    if task == "classification":
        return classification_curves(model, features, target, folder)
    return regression_curves(model, features, target, folder)
