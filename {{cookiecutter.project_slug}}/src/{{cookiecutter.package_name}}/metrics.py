"""Scores on held-out data, and which direction is better for each of them.

scikit-learn is imported where a score is computed, not at import: config.py reads the metric names
here for every stage and command, and importing sklearn.metrics (and pandas) costs about 2.5 s."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

HIGHER_IS_BETTER = {
    "accuracy": True,
    "f1": True,
    "roc_auc": True,
    "precision": True,
    "recall": True,
    "r2": True,
    "rmse": False,
    "mae": False,
}
METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "f1", "roc_auc", "precision", "recall"),
    "regression": ("r2", "rmse", "mae"),
}


def classification_metric(
    name: str, y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray, classes: list
) -> float:
    """One classification metric: F1, precision and recall of the second class for two classes, else
    macro averages; ROC AUC one-vs-rest beyond two classes."""
    from sklearn import metrics as skm

    binary = len(classes) == 2
    if name == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred))
    if name == "roc_auc":
        try:
            return float(
                skm.roc_auc_score(y_true == classes[1], proba[:, 1])
                if binary
                else skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
            )
        except ValueError:  # a subset holding one class only (a small group of a slice): undefined
            return float("nan")
    measure = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[name]
    averaging = {"pos_label": classes[1]} if binary else {"average": "macro"}
    return float(measure(y_true, y_pred, zero_division=0.0, **averaging))


def classification_scores(y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray, classes: list) -> dict:
    """Every metric of METRICS["classification"]."""
    return {
        name: classification_metric(name, y_true, y_pred, proba, classes)
        for name in METRICS["classification"]
    }


def regression_scores(y_true: pd.Series, y_pred: np.ndarray) -> dict:
    from sklearn import metrics as skm

    return {
        "r2": float(skm.r2_score(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
    }


def predicted_labels(classes, proba: np.ndarray) -> np.ndarray:
    """The class of highest probability per row: what every classifier here predicts, taken from the
    probabilities already computed, so one pass of the pipeline gives both."""
    return np.asarray(classes)[proba.argmax(axis=1)]


# Rows per model call when a whole split is scored: the pipeline's transform holds float64 and text copies
# of the rows it is given. On the 100,000 rows of a permutation-importance call (a 1,000,000-row CSV) one
# call peaked 180 MiB above the evaluate stage's memory.
PREDICT_CHUNK = 20_000


def answers(model, features, method: str = "predict", chunk: int = PREDICT_CHUNK) -> np.ndarray:
    """`model.<method>(features)` (a frame or a matrix), `chunk` rows at a time: each row is answered
    on its own, so the values are those of one call."""
    call = getattr(model, method)
    if len(features) <= chunk:
        return call(features)
    rows = features.iloc if hasattr(features, "iloc") else features  # a frame, or a matrix
    return np.concatenate([call(rows[start : start + chunk]) for start in range(0, len(features), chunk)])


def score(task: str, model, features: pd.DataFrame, target: pd.Series) -> dict:
    """Score a fitted pipeline on a frame: the metrics of METRICS[task], rounded for stable diffs."""
    if task == "classification":
        # One pass instead of predict and predict_proba: on the train stage's 800,000 rows, the second
        # pass was the peak of its memory.
        proba = answers(model, features, "predict_proba")
        classes = list(model.classes_)
        result = classification_scores(target, predicted_labels(classes, proba), proba, classes)
    else:
        result = regression_scores(target, answers(model, features))
    return {name: round(value, 6) for name, value in result.items()}
