"""Batch scoring (`make predict`): chunks, rejects with row and rule, formats, bad input refused cleanly."""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.model import build_pipeline, save_model
from {{ cookiecutter.package_name }}.schema import conform, infer_schema
from {{ cookiecutter.package_name }}.scoring import Progress, ScoringError, rejects_url, score_file
from {{ cookiecutter.package_name }}.stages import predict as predict_stage


@pytest.fixture(scope="module")
def trained_once(tiny_frame_once, params, tmp_path_factory):
    """A model of the project's kind trained on six rows (once for the module: a fit and a save cost
    seconds), its schema, and the rows to score."""
    labels = [0, 1, 0, 1, 0, 1] if params.task == "classification" else range(6)
    task_frame = tiny_frame_once.assign(label=labels)
    schema = infer_schema(task_frame, target="label")
    model = build_pipeline(params, schema).fit(conform(task_frame, schema), task_frame["label"])
    path = tmp_path_factory.mktemp("fitted") / "model.skops"
    save_model(model, path)
    rows = tiny_frame_once.drop(columns=["label"]).assign(key=[f"k{i}" for i in range(6)])
    return schema, path, rows


@pytest.fixture
def fitted(trained_once, tmp_path):
    """The module's model copied into this test's folder, and rows of its own to change."""
    schema, saved, rows = trained_once
    path = tmp_path / "model.skops"
    shutil.copyfile(saved, path)
    return schema, str(path), rows.copy()


def listing(folder) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_valid_rows_are_scored_and_broken_ones_rejected_with_row_and_rule(fitted, tmp_path):
    schema, model, rows = fitted
    rows.loc[1, "colour"] = "green"  # not a known category
    rows.loc[4, "size"] = 1e6  # outside the inferred range
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    summary = score_file(str(source), str(tmp_path / "out.csv"), schema, model, "key", chunk=4)
    scored = pd.read_csv(tmp_path / "out.csv")
    rejects = pd.read_csv(rejects_url(str(tmp_path / "out.csv")))
    assert (summary.rows, summary.scored, summary.rejected) == (6, 4, 2)
    assert scored["row"].tolist() == [1, 3, 4, 6]
    assert scored["key"].tolist() == ["k0", "k2", "k3", "k5"]
    assert scored["prediction"].notna().all()
    assert rejects["row"].tolist() == [2, 5]
    assert rejects["rule"].tolist()[0] == "colour: not an allowed category"
    assert rejects["rule"].tolist()[1].startswith("size: outside the range")
    assert listing(tmp_path) == {"in.csv", "out.csv", "out.rejects.csv", "model.skops"}


def test_chunk_size_does_not_change_the_predictions(fitted, tmp_path):
    schema, model, rows = fitted
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    score_file(str(source), str(tmp_path / "one.csv"), schema, model, chunk=1)
    score_file(str(source), str(tmp_path / "all.csv"), schema, model, chunk=1000)
    one, whole = (pd.read_csv(tmp_path / name) for name in ("one.csv", "all.csv"))
    # The same rows, ids and labels; numbers equal up to the last bit a matrix product may round
    # differently for one row than for a batch (a linear model's predictions).
    pd.testing.assert_frame_equal(one, whole, check_exact=False, rtol=1e-12, atol=0)


def test_text_in_a_numeric_column_after_the_first_chunk_rejects_only_that_row(fitted, tmp_path):
    schema, model, rows = fitted
    text = rows.to_csv(index=False).splitlines()
    fields = text[5].split(",")  # row 5 (line 0 is the header)
    text[5] = ",".join([*fields[:2], "three", *fields[3:]])  # in the column count
    source = tmp_path / "in.csv"
    source.write_text("\n".join(text) + "\n")
    summary = score_file(str(source), str(tmp_path / "out.csv"), schema, model, "key", chunk=2)
    rejects = pd.read_csv(tmp_path / "out.rejects.csv")
    assert (summary.scored, summary.rejected) == (5, 1)
    assert rejects[["row", "rule"]].values.tolist() == [[5, "count: not a number"]]
    assert pd.read_csv(tmp_path / "out.csv")["row"].tolist() == [1, 2, 3, 4, 6]


def test_parquet_in_and_out(fitted, tmp_path):
    schema, model, rows = fitted
    rows.to_parquet(tmp_path / "in.parquet")
    summary = score_file(str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), schema, model, "key")
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert summary.scored == 6
    assert scored["key"].tolist() == rows["key"].tolist()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"a,b\n1,2\n", "has none of the schema's columns"),
        (b"size,colour,count\n1.0,r\xe9d,1\n", "is not UTF-8"),
        (b"size,colour\n1.0,red\n", "lacks columns the model needs: count"),
    ],
    ids=["missing file", "empty file", "no schema column", "not UTF-8", "a column missing"],
)
def test_bad_input_is_one_clear_error_and_leaves_no_output(fitted, tmp_path, content, message):
    schema, model, _ = fitted
    source = tmp_path / "in.csv"
    if content is not None:
        source.write_bytes(content)
    before = listing(tmp_path)
    with pytest.raises(ScoringError, match=message) as error:
        score_file(str(source), str(tmp_path / "out.csv"), schema, model)
    assert "\n" not in str(error.value)
    assert listing(tmp_path) == before, "no output, rejects or temporary file is left behind"


def test_a_model_uri_that_does_not_resolve_is_named(fitted, tmp_path, monkeypatch):
    schema, _, rows = fitted
    # A tracking server that is not there (port 9, discard): the error path of every unresolved URI, in
    # a tenth of a second; an empty SQLite store would spend 5-14 s creating its tables first.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    rows.to_csv(tmp_path / "in.csv", index=False)
    uri = "models:/nothing-here@champion"
    with pytest.raises(ScoringError, match=f"model {uri} cannot be loaded"):
        score_file(str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), schema, uri)
    assert not (tmp_path / "out.csv").exists()


def test_progress_prints_plain_lines_with_rate_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream, every=0)
    progress.update(500, total=1000)
    line = stream.getvalue()
    assert line.startswith("predict: 500 rows, ")
    assert "rows/s" in line
    assert "s left" in line
    assert line.endswith("\n")
    assert "\r" not in line


def test_the_command_prints_one_line_and_exits_non_zero_on_a_missing_file(tmp_path, capsys, schema):
    code = predict_stage.main([str(tmp_path / "nope.csv"), str(tmp_path / "out.csv")])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert "\n" not in error
    assert "nope.csv: no such file" in error
    assert not (tmp_path / "out.csv").exists()
