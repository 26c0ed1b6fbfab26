"""Metrics per group of a slice column, the worst group, the largest gap, fairness differences; the
gate rules over them and the slice table of the gate report."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from ..config import SlicesConfig
from ..metrics import HIGHER_IS_BETTER, METRICS, answers, classification_scores, regression_scores

MISSING = "(missing)"


def groups_of(values: pd.Series) -> pd.Series:
    """Group labels as text; a missing value is a group of its own."""
    return values.map(lambda value: MISSING if pd.isna(value) else str(value))


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def _scores(task: str, target: pd.Series, predicted: np.ndarray, proba, classes: list) -> dict:
    with warnings.catch_warnings():  # a tiny group leaves some metrics undefined: None, not a warning
        warnings.simplefilter("ignore")
        if task == "classification":
            result = classification_scores(target, predicted, proba, classes)
        elif len(target) >= 2:
            result = regression_scores(target, predicted)
        else:
            result = dict.fromkeys(METRICS[task], float("nan"))
    return {name: _clean(value) for name, value in result.items()}


def fairness(target: pd.Series, predicted: np.ndarray, groups: pd.Series, classes: list) -> dict:
    """Demographic parity and equalized odds differences between groups (fairlearn), for the positive
    (second) class of a binary label; beyond two classes the largest over one-vs-rest labels."""
    positives = classes[1:] if len(classes) == 2 else classes
    parity, odds = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for positive in positives:
            truth, guess = np.asarray(target == positive), np.asarray(predicted == positive)
            parity.append(demographic_parity_difference(truth, guess, sensitive_features=groups))
            odds.append(equalized_odds_difference(truth, guess, sensitive_features=groups))
    return {
        "demographic_parity": _clean(float(np.nanmax(parity))),
        "equalized_odds": _clean(float(np.nanmax(odds))) if not np.isnan(odds).all() else None,
    }


def slice_column(
    task: str, model, features: pd.DataFrame, target: pd.Series, values: pd.Series, min_size: int
) -> dict:
    """Every metric per group with its size; per metric the worst group and the gap between the best
    and worst group, over groups of at least `min_size` rows (smaller ones are listed, never compared)."""
    groups = groups_of(values).to_numpy()
    predicted = answers(model, features)
    proba = answers(model, features, "predict_proba") if task == "classification" else None
    classes = list(model.classes_) if task == "classification" else []
    rows = []
    for group in sorted(set(groups)):
        mask = groups == group
        scores = _scores(
            task,
            target[mask],
            predicted[mask],
            proba[mask] if proba is not None else None,
            classes,
        )
        rows.append({"group": group, "rows": int(mask.sum()), "metrics": scores})
    eligible = [row for row in rows if row["rows"] >= min_size]
    worst, gap = {}, {}
    for name in METRICS[task]:
        scored = [row for row in eligible if row["metrics"][name] is not None]
        if not scored:
            continue
        order = sorted(scored, key=lambda row: row["metrics"][name], reverse=not HIGHER_IS_BETTER[name])
        worst[name] = {"group": order[0]["group"], "value": order[0]["metrics"][name]}
        gap[name] = _clean(abs(order[-1]["metrics"][name] - order[0]["metrics"][name]))
    result: dict = {"groups": rows, "worst": worst, "gap": gap}
    if task == "classification":
        kept = np.isin(groups, [row["group"] for row in eligible])
        result["fairness"] = (
            fairness(target[kept], predicted[kept], pd.Series(groups[kept]), classes)
            if len({row["group"] for row in eligible}) >= 2
            else {"demographic_parity": None, "equalized_odds": None}
        )
    return result


def slice_report(
    task: str, model, features: pd.DataFrame, target: pd.Series, frame: pd.DataFrame, config: SlicesConfig
) -> dict:
    """slices.json: one entry per slice column of `frame` (the held-out rows, excluded columns included)."""
    target = target.reset_index(drop=True)
    features = features.reset_index(drop=True)
    return {
        "min_group_size": config.min_group_size,
        "columns": {
            column: slice_column(
                task, model, features, target, frame[column].reset_index(drop=True), config.min_group_size
            )
            for column in config.columns
        },
    }


def failures(report: dict, config: SlicesConfig) -> list[str]:
    """Every group (of at least min_group_size rows) beyond its bound, every gap and fairness difference
    beyond its tolerance, naming the column and the group."""
    found = []
    min_size = report["min_group_size"]
    for column, result in report["columns"].items():
        for name, rule in config.metrics.items():
            for row in result["groups"]:
                value = row["metrics"].get(name)
                if row["rows"] < min_size or value is None:
                    continue
                if rule.min is not None and value < rule.min:
                    found.append(
                        f"slice {column}={row['group']} ({row['rows']} rows): {name} = {value:.4g} "
                        f"is below the minimum {rule.min:g}"
                    )
                if rule.max is not None and value > rule.max:
                    found.append(
                        f"slice {column}={row['group']} ({row['rows']} rows): {name} = {value:.4g} "
                        f"is above the maximum {rule.max:g}"
                    )
            gap = result["gap"].get(name)
            if rule.max_gap is not None and gap is not None and gap > rule.max_gap + 1e-12:
                worst = result["worst"][name]
                found.append(
                    f"slice {column}: {name} gap {gap:.4g} exceeds the tolerance {rule.max_gap:g}; "
                    f"worst group {column}={worst['group']} ({name} = {worst['value']:.4g})"
                )
        for name, tolerance in config.fairness.model_dump().items():
            value = result.get("fairness", {}).get(name)
            if tolerance is not None and value is not None and value > tolerance + 1e-12:
                found.append(
                    f"slice {column}: {name.replace('_', ' ')} difference {value:.4g} exceeds the "
                    f"tolerance {tolerance:g}{_worst_hint(result)}"
                )
    return found


def _worst_hint(result: dict) -> str:
    worst = result["worst"].get("accuracy")
    return f"; worst group by accuracy: {worst['group']}" if worst else ""


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def markdown(report: dict, config: SlicesConfig, task: str) -> list[str]:
    """Per column: a row per group (size, every metric, whether it is gated), then worst, gap, fairness."""
    if not report["columns"]:
        return ["### Slices", "", "_No slice columns configured (params.yaml `slices.columns`)._"]
    names = METRICS[task]
    min_size = report["min_group_size"]
    lines = [f"### Slices (held-out; groups of at least {min_size} rows are gated)", ""]
    for column, result in report["columns"].items():
        lines += [
            f"| {column} | rows | " + " | ".join(names) + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for row in result["groups"]:
            small = " (small)" if row["rows"] < min_size else ""
            cells = " | ".join(_cell(row["metrics"].get(name)) for name in names)
            lines.append(f"| {row['group']}{small} | {row['rows']} | {cells} |")
        worst = " | ".join(
            f"{result['worst'][name]['group']}" if name in result["worst"] else "-" for name in names
        )
        gaps = " | ".join(_cell(result["gap"].get(name)) for name in names)
        lines += [f"| **worst group** | | {worst} |", f"| **largest gap** | | {gaps} |", ""]
        if "fairness" in result:
            found = result["fairness"]
            limits = config.fairness
            lines.append(
                f"Fairness ({column}): demographic parity difference {_cell(found['demographic_parity'])}"
                f" (tolerance {_limit(limits.demographic_parity)}), equalized odds difference "
                f"{_cell(found['equalized_odds'])} (tolerance {_limit(limits.equalized_odds)})."
            )
            lines.append("")
    rules = [
        f"{name}: "
        + ", ".join(
            part
            for part in (
                f">= {rule.min:g}" if rule.min is not None else "",
                f"<= {rule.max:g}" if rule.max is not None else "",
                f"gap <= {rule.max_gap:g}" if rule.max_gap is not None else "",
            )
            if part
        )
        for name, rule in config.metrics.items()
    ]
    lines.append("Slice rules: " + ("; ".join(rules) if rules else "none (reported, not gated)") + ".")
    return lines


def _limit(value: float | None) -> str:
    return "not gated" if value is None else f"{value:g}"
