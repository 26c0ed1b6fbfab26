"""Evaluation plots (image files) of the held-out split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from .metrics import answers, predicted_labels

PLOTS_DIR = Path("reports/plots")


def _axes():
    """A figure without pyplot: no global state, no display backend needed."""
    figure = Figure(figsize=(5, 4))
    return figure, figure.subplots()


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def plot(task: str, model, features: pd.DataFrame, target: pd.Series, folder: Path) -> list[Path]:
    """Confusion matrix and ROC curve (classification); residuals and predicted vs actual (regression)."""
    folder.mkdir(parents=True, exist_ok=True)
    if task == "classification":
        classes = model.classes_
        proba = answers(model, features, "predict_proba")  # in chunks: the split may be large (metrics.py)
        figure, axes = _axes()
        predicted = predicted_labels(classes, proba)
        ConfusionMatrixDisplay.from_predictions(target, predicted, labels=classes, ax=axes, colorbar=False)
        axes.set_title("Confusion matrix (held-out)")
        paths = [_save(figure, folder / "confusion_matrix.png")]
        figure, axes = _axes()
        if len(classes) == 2:
            name = type(model).__name__  # as from_estimator names the curve
            RocCurveDisplay.from_predictions(target, proba[:, 1], pos_label=classes[1], ax=axes, name=name)
        else:
            for index, label in enumerate(classes):
                RocCurveDisplay.from_predictions(target == label, proba[:, index], ax=axes, name=str(label))
        axes.set_title("ROC curve (held-out)")
        return [*paths, _save(figure, folder / "roc_curve.png")]
    predicted = answers(model, features)
    figure, axes = _axes()
    axes.scatter(predicted, np.asarray(target) - predicted, s=12, alpha=0.7)
    axes.axhline(0.0, color="grey", linewidth=1)
    axes.set(xlabel="predicted", ylabel="residual (actual - predicted)", title="Residuals (held-out)")
    paths = [_save(figure, folder / "residuals.png")]
    figure, axes = _axes()
    axes.scatter(target, predicted, s=12, alpha=0.7)
    low, high = float(min(target.min(), predicted.min())), float(max(target.max(), predicted.max()))
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    axes.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (held-out)")
    return [*paths, _save(figure, folder / "predicted_vs_actual.png")]
