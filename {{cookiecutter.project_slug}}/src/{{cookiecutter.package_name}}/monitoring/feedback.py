"""Live metrics: late labels joined by prediction id to the prediction record, scored, and gated.

A labels file holds `prediction_id` and the true value under the target's name (CSV or Parquet, a path
or any fsspec URL). Ids the record does not hold are counted as unmatched, never guessed. The metrics are
those of the model version that served the matched records (MODEL_VERSION when set, else the newest one
among them); labels of records another version served are counted apart. The gate is the training gate's
absolute bounds (`gate:` in params.yaml): a regression tolerance against the held-out metrics would fail
on the noise of a few hundred labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Params
from ..gate import Check, evaluate_gate
from ..metrics import HIGHER_IS_BETTER, classification_scores, regression_scores
from .records import PROBABILITY, InputError, first_line

ID = "prediction_id"


def read_labels(url: str, target: str) -> pd.DataFrame:
    """`prediction_id` (text) and `target` of a CSV or Parquet file; InputError names what is wrong."""
    import fsspec
    import pyarrow as pa

    if not url:
        raise InputError(f"give LABELS=<csv or parquet with {ID} and {target}, a path or URL>")
    parquet = url.lower().endswith((".parquet", ".pq"))
    try:
        with fsspec.open(url, "rb", compression="infer") as handle:
            if parquet:
                frame = pd.read_parquet(handle)
            else:
                frame = pd.read_csv(handle, dtype={ID: str}, keep_default_na=True)
    except FileNotFoundError:
        raise InputError(f"labels: {url}: no such file") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"labels: {url} is empty: expected a header with {ID} and {target}") from None
    except (OSError, ValueError, UnicodeDecodeError, pa.ArrowInvalid, pd.errors.ParserError) as error:
        raise InputError(f"labels: cannot read {url}: {first_line(error)}") from None
    missing = [name for name in (ID, target) if name not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:6])) or "none"
        raise InputError(f"labels: {url} needs the columns {ID} and {target}; it lacks {', '.join(missing)} "
                         f"(it has {found})")  # fmt: skip
    frame = frame[[ID, target]].dropna(subset=[ID])
    if frame.empty:
        raise InputError(f"labels: {url} has no rows")
    frame[ID] = frame[ID].astype(str)
    return frame


@dataclass
class Joined:
    frame: pd.DataFrame  # the labelled records of `version`: the record's columns and `truth`
    version: str
    counts: dict[str, int]
    other_versions: list[str]


def match(labels: pd.DataFrame, target: str, record: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The records with a label (as `truth`; a duplicated id keeps its last label), and the counts."""
    duplicates = int(labels[ID].duplicated(keep="last").sum())
    labels = labels.drop_duplicates(ID, keep="last").rename(columns={target: "truth"})
    matched = record.drop_duplicates(ID, keep="last").merge(labels, on=ID, how="inner")
    counts = {"labels": len(labels) + duplicates, "duplicates": duplicates, "matched": len(matched),
              "unmatched": len(labels) - len(matched)}  # fmt: skip
    if matched.empty:
        raise InputError(f"labels: none of the {len(labels)} ids are in the prediction record")
    return matched, counts


def join(labels: pd.DataFrame, target: str, record: pd.DataFrame, version: str | None) -> Joined:
    """The labelled records of one model version, and how many labels went where."""
    matched, counts = match(labels, target, record)
    versions = matched["model_version"].astype(str)
    if version is None:  # the version that served the newest matched record
        version = str(versions.iloc[int(np.argmax(matched["timestamp"].to_numpy()))])
    mine = matched[versions == version]
    others = sorted(set(versions) - {version})
    if mine.empty:
        raise InputError(f"labels: the {len(matched)} matched ids were served by model version "
                         f"{', '.join(others)}, not {version}")  # fmt: skip
    counts["other_version"] = len(matched) - len(mine)
    return Joined(mine.reset_index(drop=True), version, counts, others)


def live_metrics(joined: pd.DataFrame, classification: bool) -> dict[str, float]:
    if not classification:
        truth = pd.to_numeric(joined["truth"], errors="coerce")
        if truth.isna().any():
            raise InputError(f"labels: {int(truth.isna().sum())} true values are not numbers")
        return _rounded(regression_scores(truth, joined["prediction"].to_numpy(dtype=float)))
    columns = [name for name in joined.columns if str(name).startswith(PROBABILITY)]
    classes = [name.removeprefix(PROBABILITY) for name in columns]
    truth = joined["truth"].map(_as_label)
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        raise InputError(f"labels: values {unknown[:5]} are not classes of the model {classes}")
    predicted = joined["prediction"].map(_as_label).to_numpy()
    proba = joined[columns].to_numpy(dtype=float)
    return _rounded(classification_scores(truth, predicted, proba, classes))


def _as_label(value) -> str:
    """A class as text, as the record's probability columns name it (1.0 read from a CSV is class 1)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rounded(scores: dict) -> dict[str, float]:
    return {name: round(float(value), 6) for name, value in scores.items()}


def gate(params: Params, live: dict[str, float]) -> list[Check]:
    """The training gate's absolute bounds on the live metrics (no baseline: no regression check)."""
    return evaluate_gate(params.gate, live, None)


def markdown(payload: dict) -> str:
    verdict = "PASS" if payload["passed"] else "FAIL"
    counts = payload["rows"]
    scored = counts["matched"] - counts["other_version"]
    lines = [
        f"## Live metrics: {verdict}",
        "",
        f"Model version `{payload['model_version']}`: {scored:,} labelled records of {counts['labels']:,} "
        f"labels from `{payload['labels']}` ({counts['unmatched']:,} ids not in the record, "
        f"{counts['other_version']:,} of other model versions, {counts['duplicates']:,} duplicates).",
        "",
        "| metric | held-out | live | threshold | result |",
        "|---|---:|---:|---|---|",
    ]
    for check in payload["checks"]:
        held = payload["held_out"].get(check["metric"])
        arrow = "higher is better" if HIGHER_IS_BETTER[check["metric"]] else "lower is better"
        lines.append(
            f"| {check['metric']} ({arrow}) | {'-' if held is None else f'{held:.4f}'} "
            f"| {check['current']:.4f} | {check['bound']} | {'pass' if check['passed'] else 'FAIL'} |"
        )
    failed = [check["reason"] for check in payload["checks"] if not check["passed"]]
    if failed:
        lines += ["", "Failed:", *[f"- {reason}" for reason in failed]]
    return "\n".join(lines) + "\n"


def served_version() -> str | None:
    """The version to judge when the deployment names it (as serving/record.py records it)."""
    return os.environ.get("MODEL_VERSION") or None
