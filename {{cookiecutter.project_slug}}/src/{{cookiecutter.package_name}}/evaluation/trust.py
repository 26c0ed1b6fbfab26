"""What the evaluate stage adds beyond held-out metrics (cross-validation, importance, slices, the model
card) and what the gate reads back from it: one call from each stage."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pandas as pd

from ..config import Params
from ..data import RAW_PATH, TRAIN_PATH, count_rows, file_digest, release_freed_memory
from ..metrics import METRICS
from ..model import build_pipeline, read_training_split
from ..schema import Schema
from . import card, crossval, importance, slices

CROSSVAL_PATH = Path("reports/crossval.json")
SLICES_PATH = Path("reports/slices.json")
IMPORTANCE_PATH = Path("reports/importance.json")
IMPORTANCE_PLOT = Path("reports/plots/importance.png")
METRICS_PATH = Path("reports/metrics.json")


def _write(path: Path, value: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    return path


def importance_metric(params: Params) -> str:
    return params.importance.metric or METRICS[params.task][0]


def cross_validation(params: Params, schema: Schema) -> dict:
    """The cross-validated metrics of params.yaml's pipeline on the training split (or a sample of it).

    The evaluate stage calls this first, before it loads the model and the held-out rows: the folds' fits
    are its largest arrays. The human part of the model card is read before, so that a broken one stops
    the stage before minutes of work."""
    card.load_human()
    # As the train stage reads it.
    sample = partial(crossval.sample, max_rows=params.crossval.max_rows, seed=params.data.seed)
    train_features, train_target = read_training_split(schema, params.data.target, sample)
    return crossval.cross_validate(
        params.task,
        build_pipeline(params, schema),
        train_features,
        train_target,
        params.crossval.folds,
        params.data.seed,
    )


def evaluate(
    params: Params,
    schema: Schema,
    model,
    held_out: tuple[pd.DataFrame, pd.DataFrame, pd.Series],
    metrics: dict,
    spread: dict,
    run: dict,
    compiled: str = "",
) -> tuple[list[Path], dict]:
    """Write crossval.json (`spread`, from `cross_validation`), importance.json (+ plot), slices.json and
    MODEL_CARD.md; return the files and the cross-validated metrics to log to MLflow. `held_out`: the
    held-out split as read, its features conformed to the schema and its labels."""
    human = card.load_human()
    test, features, target = held_out
    ranked = importance.permutation(
        params.task,
        model,
        features,
        target,
        importance_metric(params),
        params.importance.n_repeats,
        params.data.seed,
        params.importance.max_rows,
    )
    sliced = slices.slice_report(params.task, model, features, target, test, params.slices)
    # What the shuffled copies freed (130 MiB on the held-out rows of a 1,000,000-row CSV), before the
    # row counts below read two CSV files.
    release_freed_memory()
    provenance = card.Provenance(
        raw_path=str(RAW_PATH),
        raw_sha256=file_digest(RAW_PATH),
        raw_rows=count_rows(RAW_PATH),
        train_rows=count_rows(TRAIN_PATH),
        test_rows=len(target),
        remote=card.dvc_remote(),
    )
    reports = {"metrics": metrics, "crossval": spread, "slices": sliced, "importance": ranked}
    reports["compiled"] = compiled
    text = card.render(params, schema, human, run, provenance, reports)
    card.MODEL_CARD_PATH.write_text(text, encoding="utf-8")
    files = [
        _write(CROSSVAL_PATH, spread),
        _write(IMPORTANCE_PATH, ranked),
        importance.plot(ranked, IMPORTANCE_PLOT, params.importance.top),
        _write(SLICES_PATH, sliced),
        card.MODEL_CARD_PATH,
    ]
    logged = {f"cv_{name}_{stat}": value[stat] for name, value in spread.items() for stat in ("mean", "std")}
    return files, logged


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def review(params: Params, metrics: dict, folder: Path = Path("reports")) -> tuple[list[str], list[str]]:
    """For the gate: the report sections (cross-validation, slices, top features) and every failure of
    the cross-validation and slice rules. A report the evaluate stage did not write is a failure."""
    sections: list[str] = []
    failures: list[str] = []
    spread = _read(folder / CROSSVAL_PATH.name)
    if spread is None:
        failures.append(f"{folder / CROSSVAL_PATH.name} is missing: run `make train`")
    else:
        max_std = params.crossval.max_deviation_std
        failures += crossval.deviation_failures(list(params.gate), metrics, spread, max_std)
        folds, max_rows = params.crossval.folds, params.crossval.max_rows
        sections += [*crossval.markdown(metrics, spread, folds, max_std, max_rows), ""]
    sliced = _read(folder / SLICES_PATH.name)
    if sliced is None:
        failures.append(f"{folder / SLICES_PATH.name} is missing: run `make train`")
    else:
        missing = sorted(set(params.slices.columns) - set(sliced["columns"]))
        if missing:
            failures.append(f"slices.columns {missing} are not in {SLICES_PATH}: run `make train`")
        failures += slices.failures(sliced, params.slices)
        sections += [*slices.markdown(sliced, params.slices, params.task), ""]
    ranked = _read(folder / IMPORTANCE_PATH.name)
    if ranked is not None:
        top = min(5, params.importance.top)
        sections += ["### Top features (permutation importance, held-out)", ""]
        sections += [*importance.markdown(ranked, top), ""]
    return sections, failures


def registry_card(version: str, alias: str) -> str | None:
    """MODEL_CARD.md with the registry version and alias filled in, for the model version's description."""
    if not card.MODEL_CARD_PATH.exists():
        return None
    return card.with_registry(card.MODEL_CARD_PATH.read_text(encoding="utf-8"), version, alias)
