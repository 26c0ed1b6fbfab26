"""Late labels joined to the prediction record: counted, matched by id only, scored for one model version."""

from __future__ import annotations

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.monitoring.feedback import join, live_metrics, read_labels
from {{ cookiecutter.package_name }}.monitoring.ingest import already_ingested, append, training_rows
from {{ cookiecutter.package_name }}.monitoring.records import InputError
from {{ cookiecutter.package_name }}.schema import Column, Schema


def record(versions: list[str]) -> pd.DataFrame:
    count = len(versions)
    return pd.DataFrame(
        {
            "prediction_id": [f"r-{i}" for i in range(count)],
            "timestamp": pd.date_range("2030-01-01", periods=count, freq="min", tz="UTC"),
            "model_version": versions,
            "prediction": ["yes" if i % 2 else "no" for i in range(count)],
            "probability_no": [0.2 if i % 2 else 0.8 for i in range(count)],
            "probability_yes": [0.8 if i % 2 else 0.2 for i in range(count)],
        }
    )


def test_ids_are_matched_exactly_and_the_rest_counted():
    labels = pd.DataFrame({"prediction_id": ["r-0", "r-1", "r-1", "x-9"], "label": ["no", "no", "yes", "no"]})
    joined = join(labels, "label", record(["v1"] * 4), None)
    assert joined.counts == {"labels": 4, "duplicates": 1, "matched": 2, "unmatched": 1, "other_version": 0}
    assert dict(zip(joined.frame["prediction_id"], joined.frame["truth"], strict=True)) == {
        "r-0": "no",
        "r-1": "yes",
    }


def test_the_newest_model_version_is_scored_and_the_others_counted_apart():
    labels = pd.DataFrame(
        {"prediction_id": ["r-0", "r-1", "r-2", "r-3"], "label": ["no", "yes", "no", "yes"]}
    )
    joined = join(labels, "label", record(["v1", "v1", "v2", "v2"]), None)
    assert (joined.version, joined.other_versions, joined.counts["other_version"]) == ("v2", ["v1"], 2)
    with pytest.raises(InputError, match="served by model version v1, v2, not v3"):
        join(labels, "label", record(["v1", "v1", "v2", "v2"]), "v3")
    with pytest.raises(InputError, match="none of the 1 ids"):
        join(pd.DataFrame({"prediction_id": ["x"], "label": ["no"]}), "label", record(["v1"]), None)


def test_live_metrics_score_the_predictions_against_the_truth():
    frame = record(["v1"] * 4).assign(truth=["no", "yes", "yes", "yes"])
    scores = live_metrics(frame, classification=True)
    assert scores["accuracy"] == 0.75
    assert scores["recall"] == pytest.approx(2 / 3, abs=1e-6)
    with pytest.raises(InputError, match="not classes of the model"):
        live_metrics(frame.assign(truth=["no", "maybe", "yes", "yes"]), classification=True)


def test_labels_need_the_id_and_the_target_columns(tmp_path):
    (tmp_path / "good.csv").write_text("prediction_id,label,extra\n001-0,yes,1\n")
    assert read_labels(str(tmp_path / "good.csv"), "label").to_dict("list") == {
        "prediction_id": ["001-0"], "label": ["yes"],
    }  # fmt: skip
    (tmp_path / "bad.csv").write_text("id,label\n1,yes\n")
    with pytest.raises(InputError, match="lacks prediction_id"):
        read_labels(str(tmp_path / "bad.csv"), "label")
    pd.DataFrame({"prediction_id": [], "label": []}).to_parquet(tmp_path / "none.parquet")
    with pytest.raises(InputError, match="has no rows"):
        read_labels(str(tmp_path / "none.parquet"), "label")


SCHEMA = Schema(
    target="label",
    columns=[
        Column(name="size", kind="number", minimum=0.0, maximum=10.0),
        Column(name="email", kind="text", nullable=True),
        Column(name="label", kind="category", categories=["no", "yes"]),
    ],
)


def test_labelled_records_become_rows_of_the_raw_data_once(tmp_path):
    """An excluded column (email) is left empty; the rows are appended in the file's column order and their
    ids go to the ledger; a label the schema does not allow is refused before anything is written."""
    raw, ledger = tmp_path / "data.csv", tmp_path / "ids.txt"
    raw.write_text("label,size,email\nno,1.0,a@x.org\n")
    joined = pd.DataFrame({"prediction_id": ["r-0", "r-1"], "size": [2.0, 3.0], "truth": ["yes", "no"]})
    rows = training_rows(joined, SCHEMA)
    assert append(raw, rows, ["r-0", "r-1"], ledger) == (1, 3)
    assert raw.read_text() == "label,size,email\nno,1.0,a@x.org\nyes,2.0,\nno,3.0,\n"
    assert already_ingested(ledger) == {"r-0", "r-1"}
    with pytest.raises(InputError, match=r"break data/schema\.json: column 'label'"):
        training_rows(joined.assign(truth=["maybe", "no"]), SCHEMA)
