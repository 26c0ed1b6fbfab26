"""Evaluation plots (image files) and MODEL_CARD.md, written from params, data summary and metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from .config import Params
from .metrics import HIGHER_IS_BETTER
from .schema import Schema

PLOTS_DIR = Path("reports/plots")
MODEL_CARD_PATH = Path("MODEL_CARD.md")


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
        figure, axes = _axes()
        ConfusionMatrixDisplay.from_estimator(model, features, target, ax=axes, colorbar=False)
        axes.set_title("Confusion matrix (held-out)")
        paths = [_save(figure, folder / "confusion_matrix.png")]
        figure, axes = _axes()
        if len(model.classes_) == 2:
            RocCurveDisplay.from_estimator(model, features, target, ax=axes)
        else:
            proba = model.predict_proba(features)
            for index, label in enumerate(model.classes_):
                RocCurveDisplay.from_predictions(target == label, proba[:, index], ax=axes, name=str(label))
        axes.set_title("ROC curve (held-out)")
        return [*paths, _save(figure, folder / "roc_curve.png")]
    predicted = model.predict(features)
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


def model_card(params: Params, schema: Schema, metrics: dict, train_rows: int, test_rows: int) -> str:
    model = params.model.model_dump()
    name = model.pop("name")
    metric_rows = [
        f"| {metric} | {value:.4f} | {'higher' if HIGHER_IS_BETTER[metric] else 'lower'} is better |"
        for metric, value in metrics.items()
    ]
    feature_rows = [
        f"| {column.name} | {column.kind} | {'yes' if column.nullable else 'no'} | "
        + (
            f"{column.minimum:g} .. {column.maximum:g}"
            if column.numeric and column.minimum is not None
            else ""
        )
        + (", ".join(column.categories[:8]) if column.categories else "")
        + " |"
        for column in schema.features
    ]
    return "\n".join(
        [
            "# Model card: {{ cookiecutter.project_slug }}",
            "",
            f"_Written by the evaluate stage on {datetime.now(UTC):%Y-%m-%d}; do not edit by hand._",
            "",
            "## Model",
            f"- Task: {params.task}; estimator: `{name}` in a scikit-learn Pipeline with imputation"
            + (", scaling" if params.features.scale_numeric else "")
            + " and one-hot encoding.",
            f"- Hyperparameters: `{model}`",
            "",
            "## Data",
            f"- Source: {params.data.source}; label column `{params.data.target}`.",
            f"- Split: {train_rows} training rows, {test_rows} held-out rows "
            f"(test_size {params.data.test_size}, seed {params.data.seed}).",
            f"- {len(schema.features)} features:",
            "",
            "| feature | kind | missing allowed | range or levels |",
            "|---|---|---|---|",
            *feature_rows,
            "",
            "## Held-out metrics",
            "",
            "| metric | value | direction |",
            "|---|---:|---|",
            *metric_rows,
            "",
            "## Intended use and limits",
            "- Inputs outside the schema's ranges or levels are refused by the service, not extrapolated.",
            "- Quality is measured on one held-out split of the training data; monitor it in production.",
            "",
        ]
    )
