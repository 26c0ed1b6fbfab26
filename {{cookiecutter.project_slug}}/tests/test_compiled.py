"""The ONNX twin of the pipeline: every estimator and task converts with parity (categories and missing
values included) or says why not; a compiled file that is not the served model's is refused at start-up."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import compiled
from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.data import TRAIN_PATH
from {{ cookiecutter.package_name }}.model import build_pipeline
from {{ cookiecutter.package_name }}.model_io import (
    LAYOUT_KEY,
    ONNX_PATH,
    PARITY_PATH,
    SOURCE_KEY,
    CompiledModelMismatchError,
    input_layout,
    load_onnx_bytes,
    save_model,
    sha256,
)
from {{ cookiecutter.package_name }}.schema import conform, infer_schema

MODELS = [
    {"name": "random_forest", "n_estimators": 20},
    {"name": "gradient_boosting", "max_iter": 20},
    {"name": "linear"},
]


def _params(task: str, model: dict, encoding: str = "auto"):
    gate = {"accuracy": {"min": 0.0}} if task == "classification" else {"r2": {"min": -10.0}}
    return parse_params(
        {
            "task": task,
            "data": {"source": "csv", "target": "label"},
            "features": {"categorical_encoding": encoding},
            "model": model,
            "gate": gate,
        }
    )


def mixed_frame(task: str, rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers, whole numbers and categories, each with missing values; a label that depends on them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, rows),
            "count": rng.integers(0, 20, rows),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "shape": rng.choice(["round", "square"], rows),
        }
    )
    signal = frame["size"] / 3 + (frame["colour"] == "red") * 2 - frame["count"] / 10
    frame["size"] = frame["size"].mask(rng.random(rows) < 0.1)
    frame["colour"] = frame["colour"].mask(rng.random(rows) < 0.1)
    frame["label"] = (signal > signal.median()).astype(int) if task == "classification" else signal * 7
    return frame


def fitted(task: str, model: dict, frame: pd.DataFrame, encoding: str = "auto"):
    schema = infer_schema(frame, target="label")
    features = conform(frame.drop(columns="label"), schema)
    pipeline = build_pipeline(_params(task, model, encoding), schema).fit(features, frame["label"])
    return pipeline, schema, features


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m["name"])
def test_every_estimator_and_task_compiles_with_parity_on_categories_and_missing_values(
    tmp_path, task, model, encoding
):
    pipeline, schema, features = fitted(task, model, mixed_frame(task), encoding)
    steps = list(pipeline.steps)
    columns = [cols for _, _, cols in pipeline.named_steps["features"].transformers_]
    onnx, report = tmp_path / "model.onnx", tmp_path / "parity.json"
    parity = compiled.export(pipeline, schema, features, "sha", 1e-5, path=onnx, report=report)
    assert parity.compiled, parity.reason
    assert pipeline.steps == steps, "the conversion's pipeline is its own: the model's steps are unchanged"
    assert [cols for _, _, cols in pipeline.named_steps["features"].transformers_] == columns
    assert onnx.exists()
    assert parity.rows > len(features), "the schema's edge rows (missing values in every nullable column) too"
    assert parity.labels_differing == 0
    assert parity.max_difference <= 1e-5
    assert json.loads(report.read_text())["compiled"] is True


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_parity_is_checked_in_chunks_with_the_result_of_one_call(monkeypatch, task):
    pipeline, schema, features = fitted(task, MODELS[0], mixed_frame(task))
    session = compiled.onnx_session(compiled.convert(pipeline, schema, "sha"))
    layout = input_layout(schema)
    whole = compiled.compare(pipeline, session, features, layout, 1e-5)
    calls = []
    run = session.run
    monkeypatch.setattr(session, "run", lambda names, feeds: calls.append(feeds) or run(names, feeds))
    monkeypatch.setattr(compiled, "PARITY_CHUNK", 70)
    chunked = compiled.compare(pipeline, session, features, layout, 1e-5)
    assert [len(next(iter(feeds.values()))) for feeds in calls] == [70, 70, 70, 70, 20]
    assert chunked == whole
    assert chunked.compiled
    assert chunked.rows == len(features)


def test_the_held_out_rows_may_come_from_a_function_called_after_the_conversion(tmp_path, monkeypatch):
    pipeline, schema, features = fitted("classification", MODELS[0], mixed_frame("classification"))
    onnx = tmp_path / "model.onnx"
    given = compiled.export(pipeline, schema, features, "sha", 1e-5, path=onnx, report=tmp_path / "a.json")
    events = []
    convert = compiled.convert
    monkeypatch.setattr(compiled, "convert", lambda *a: events.append("convert") or convert(*a))
    read = compiled.export(
        pipeline, schema, lambda: events.append("rows") or features, "sha", 1e-5,
        path=onnx, report=tmp_path / "b.json",
    )  # fmt: skip
    assert events == ["convert", "rows"]
    assert read == given
    assert read.compiled


def test_a_compiled_file_bound_to_another_skops_file_changes_that_name_alone():
    import onnx

    pipeline, schema, features = fitted("classification", MODELS[0], mixed_frame("classification"))
    data = compiled.convert(pipeline, schema, "a" * 64)
    bound = compiled.bound_to(data, "b" * 64)
    before, after = onnx.load_from_string(data), onnx.load_from_string(bound)
    names = {entry.key: entry.value for entry in before.metadata_props}
    assert {entry.key: entry.value for entry in after.metadata_props} == names | {SOURCE_KEY: "b" * 64}
    assert set(names) == {SOURCE_KEY, LAYOUT_KEY}
    before.ClearField("metadata_props")
    after.ClearField("metadata_props")
    assert after.SerializeToString() == before.SerializeToString()  # the graph and every other field
    layout = input_layout(schema)
    session = load_onnx_bytes(bound, "bound", "b" * 64, layout)
    assert compiled.compare(pipeline, session, features, layout, 1e-5).compiled
    with pytest.raises(CompiledModelMismatchError, match="converted from another model"):
        load_onnx_bytes(bound, "bound", "a" * 64, layout)


def test_a_failed_parity_writes_no_onnx_and_says_why(tmp_path):
    pipeline, schema, features = fitted("classification", MODELS[0], mixed_frame("classification"))
    onnx, report = tmp_path / "model.onnx", tmp_path / "parity.json"
    onnx.write_bytes(b"an older file")
    parity = compiled.export(pipeline, schema, features, "sha", 1e-30, path=onnx, report=report)
    assert not parity.compiled
    assert not onnx.exists(), "no ONNX file is left when parity fails"
    assert "parity failed" in parity.reason
    assert "parity failed" in json.loads(report.read_text())["reason"]
    assert "scikit-learn model" in parity.line()


def test_a_pipeline_that_cannot_be_converted_falls_back_with_the_reason(tmp_path):
    from sklearn.dummy import DummyClassifier  # no ONNX converter exists for it

    pipeline, schema, features = fitted("classification", MODELS[2], mixed_frame("classification"))
    pipeline.steps[-1] = ("model", DummyClassifier().fit(features.iloc[:, :1], [0, 1] * 150))
    onnx = tmp_path / "model.onnx"
    parity = compiled.export(pipeline, schema, features, "sha", 1e-5, path=onnx, report=tmp_path / "p.json")
    assert not parity.compiled
    assert parity.reason.startswith("conversion failed:"), parity.reason
    assert "DummyClassifier" in parity.reason
    assert not onnx.exists()


@pytest.fixture(scope="module")
def served(tmp_path_factory, model_path, schema, params, held_out):
    """The trained model and its compiled twin in a folder of their own, to tamper with. Where the trained
    model was not compiled (models/compiled/parity.json says why), a linear model of the same data stands
    in: these tests are about what the service accepts, whatever the estimator."""
    folder = tmp_path_factory.mktemp("served")
    if (model_path.parent / "compiled" / ONNX_PATH.name).exists():
        shutil.copy(model_path, folder / "model.skops")
        shutil.copytree(model_path.parent / "compiled", folder / "compiled")
        return folder
    linear = parse_params(params.model_dump(mode="json", by_alias=True) | {"model": {"name": "linear"}})
    target = params.data.target
    frame = pd.read_csv(TRAIN_PATH)
    pipeline = build_pipeline(linear, schema).fit(
        conform(frame.drop(columns=[target]), schema), frame[target]
    )
    save_model(pipeline, folder / "model.skops")
    parity = compiled.export(
        pipeline,
        schema,
        conform(held_out.drop(columns=[target]), schema),
        sha256((folder / "model.skops").read_bytes()),
        params.compile.tolerance,
        path=folder / "compiled" / ONNX_PATH.name,
        report=folder / "compiled" / PARITY_PATH.name,
    )
    assert parity.compiled, parity.reason
    return folder


def test_a_compiled_model_is_served_and_answers_like_its_pipeline(served, held_out, params):
    from {{ cookiecutter.package_name }}.predict import Predictor, Record

    rows = json.loads(held_out.drop(columns=[params.data.target]).to_json(orient="records"))
    records = [Record.model_validate(row) for row in rows]
    fast, slow = Predictor(served / "model.skops"), Predictor(served / "model.skops", runtime="sklearn")
    assert (fast.runtime, slow.runtime) == ("onnx", "scikit-learn")
    answers, expected = fast.infer(records), slow.infer(records)
    got, want = [value for value, _ in answers], [value for value, _ in expected]
    if params.task == "regression":  # within the tolerance of the largest prediction's magnitude
        scale = max(abs(value) for value in want)
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= params.compile.tolerance * scale
        return
    assert got == want
    for (_, got_p), (_, want_p) in zip(answers, expected, strict=True):
        assert got_p.keys() == want_p.keys()
        assert max(abs(got_p[key] - want_p[key]) for key in want_p) <= params.compile.tolerance


def _refusal(folder, caplog) -> str:
    from {{ cookiecutter.package_name }}.predict import Predictor

    with caplog.at_level(logging.WARNING):
        predictor = Predictor(folder / "model.skops")
    assert predictor.runtime == "scikit-learn", "a refused compiled model is never used"
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("model:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_an_edited_onnx_file_is_refused_at_start_up(served, tmp_path, caplog):
    shutil.copytree(served, tmp_path / "m")
    onnx = tmp_path / "m/compiled" / ONNX_PATH.name
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    onnx.write_bytes(bytes(data))
    line = _refusal(tmp_path / "m", caplog)
    assert "refused" in line
    # Where the bytes land decides which check sees it: the parser, the metadata, or the weights (probe).
    seen = ("not a readable ONNX model", "converted from another model", "does not answer like the model")
    assert any(reason in line for reason in seen), line


def test_another_models_onnx_file_is_refused_at_start_up(served, tmp_path, caplog, params, schema):
    shutil.copytree(served, tmp_path / "m")
    retrained = build_pipeline(params, schema)
    frame = pd.read_csv(TRAIN_PATH)
    features = conform(frame.drop(columns=[params.data.target]), schema)
    retrained.fit(features.iloc[::2], frame[params.data.target].iloc[::2])  # another model, same schema
    save_model(retrained, tmp_path / "m/model.skops")
    line = _refusal(tmp_path / "m", caplog)
    assert "was converted from another model" in line, line


def test_an_onnx_file_with_other_inputs_is_refused_at_start_up(served, tmp_path, caplog, schema, params):
    """Converted from the served skops file's bytes as far as its metadata says, but for a schema with a
    column fewer: the inputs do not match the schema's features."""
    shutil.copytree(served, tmp_path / "m")
    first = schema.features[0].name
    narrow = schema.model_copy(update={"columns": [c for c in schema.columns if c.name != first]})
    frame = pd.read_csv(TRAIN_PATH)
    target = schema.target
    pipeline = build_pipeline(params, narrow)
    pipeline.fit(conform(frame.drop(columns=[target, first]), narrow), frame[target])
    source = sha256((tmp_path / "m/model.skops").read_bytes())
    (tmp_path / "m/compiled" / ONNX_PATH.name).write_bytes(compiled.convert(pipeline, narrow, source))
    line = _refusal(tmp_path / "m", caplog)
    assert "declares other inputs than the schema's features" in line, line


def test_an_onnx_file_that_answers_differently_is_refused_at_start_up(
    served, tmp_path, caplog, schema, params
):
    """Right metadata and inputs, other weights (the labels shuffled): the start-up parity check on rows at
    the schema's edges catches it."""
    shutil.copytree(served, tmp_path / "m")
    frame = pd.read_csv(TRAIN_PATH)
    target = schema.target
    shuffled = frame[target].sample(frac=1.0, random_state=1).to_numpy()
    pipeline = build_pipeline(params, schema)
    pipeline.fit(conform(frame.drop(columns=[target]), schema), shuffled)
    source = sha256((tmp_path / "m/model.skops").read_bytes())
    (tmp_path / "m/compiled" / ONNX_PATH.name).write_bytes(compiled.convert(pipeline, schema, source))
    line = _refusal(tmp_path / "m", caplog)
    assert "does not answer like the model" in line, line


def test_the_compiled_inputs_follow_the_schema(schema):
    layout = input_layout(schema)
    assert layout.get("numeric", []) == schema.numeric_features
    assert layout.get("text", []) == schema.categorical_features


def test_batch_scoring_times_both_models_on_the_first_chunk_and_both_give_the_same_file(
    served, tmp_path, held_out, schema, params
):
    from {{ cookiecutter.package_name }}.scoring import score_file

    source = tmp_path / "in.csv"
    held_out.drop(columns=[params.data.target]).to_csv(source, index=False)
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(served / "model.skops", plain / "model.skops")  # no compiled twin beside it
    twin = score_file(str(source), str(tmp_path / "twin.csv"), schema, str(served / "model.skops"), chunk=50)
    alone = score_file(str(source), str(tmp_path / "alone.csv"), schema, str(plain / "model.skops"), chunk=50)
    assert "first chunk (50 rows): scikit-learn" in twin.model, twin.model
    assert alone.model.startswith("scikit-learn (no "), alone.model
    got, want = pd.read_csv(tmp_path / "twin.csv"), pd.read_csv(tmp_path / "alone.csv")
    tolerance = params.compile.tolerance
    if params.task == "regression":
        scale = want["prediction"].abs().max()
        assert np.allclose(got["prediction"], want["prediction"], rtol=0, atol=tolerance * scale)
        return
    assert got["prediction"].tolist() == want["prediction"].tolist()
    assert np.allclose(got.drop(columns="prediction"), want.drop(columns="prediction"), atol=tolerance)
