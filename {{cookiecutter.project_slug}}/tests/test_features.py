"""Features and model building: every estimator fits a frame with missing values and categories."""

from __future__ import annotations

import platform
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer

from {{ cookiecutter.package_name }} import model as model_module
from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.data import one_heap
from {{ cookiecutter.package_name }}.features import build_preprocessor, categorical_encoding
from {{ cookiecutter.package_name }}.metrics import answers, classification_scores, score
from {{ cookiecutter.package_name }}.model import (
    build_pipeline,
    fit_estimator,
    fit_model,
    fit_preprocessing,
    load_model,
    rows_per_tree,
    save_model,
)
from {{ cookiecutter.package_name }}.schema import conform, infer_schema

MODELS = [
    {"name": "random_forest", "n_estimators": 5},
    {"name": "gradient_boosting", "max_iter": 5},
    {"name": "linear"},
]


def _params(task: str, model: dict, features: dict | None = None):
    gate = {"accuracy": {"min": 0.0}} if task == "classification" else {"r2": {"min": -10.0}}
    return parse_params(
        {
            "task": task,
            "data": {"source": "csv", "target": "label"},
            "features": features or {},
            "model": model,
            "gate": gate,
        }
    )


@pytest.mark.parametrize(
    ("model", "encoding", "width"),
    [
        ("linear", "auto", 2 + 2),  # size, count, colour=blue, colour=red
        ("random_forest", "auto", 2 + 1),  # size, count, colour as 0 (blue) or 1 (red)
        ("gradient_boosting", "auto", 2 + 1),
        ("random_forest", "onehot", 2 + 2),
        ("linear", "ordinal", 2 + 1),
    ],
)
def test_preprocessor_imputes_scales_and_encodes_categories_as_the_model_needs(
    tiny_frame, model, encoding, width
):
    schema = infer_schema(tiny_frame, target="label")
    features = conform(tiny_frame.drop(columns="label"), schema)
    params = _params("classification", {"name": model}, {"categorical_encoding": encoding})
    assert categorical_encoding(params.features, model) == ("onehot" if width == 4 else "ordinal")
    matrix = build_preprocessor(schema, params.features, model).fit_transform(features)
    assert matrix.shape == (6, width)
    assert not np.isnan(matrix).any(), "missing values are imputed before the estimator"
    assert np.allclose(matrix[:, :2].mean(axis=0), 0.0), "numeric columns are standardised"
    colour = features["colour"].fillna("red")  # the most frequent colour fills the gap
    if width == 3:
        assert np.array_equal(matrix[:, 2], (colour == "red").to_numpy(dtype=float))
    else:
        assert np.array_equal(
            matrix[:, 2:], np.column_stack([colour == "blue", colour == "red"]).astype(float)
        )


@pytest.mark.parametrize("imputer", ["median", "mean"])
def test_the_numeric_imputer_gives_scikit_learns_own_statistics(imputer):
    rng = np.random.default_rng(3)
    numbers = rng.normal(size=(1001, 4))
    numbers[rng.random(numbers.shape) < 0.2] = np.nan
    numbers[:2, 1] = np.nan  # an even count of values in some column: the median of the middle two
    frame = pd.DataFrame(numbers, columns=list("abcd")).assign(label=rng.integers(0, 2, 1001))
    schema = infer_schema(frame, target="label")
    params = _params("classification", MODELS[2], {"numeric_imputer": imputer, "scale_numeric": False})
    imputer_step = build_preprocessor(schema, params.features, "linear").fit(frame).named_transformers_
    statistics = imputer_step["numeric"].named_steps["impute"].statistics_
    assert np.array_equal(statistics, SimpleImputer(strategy=imputer).fit(frame[list("abcd")]).statistics_)


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m["name"])
def test_every_estimator_fits_and_round_trips_through_skops(tmp_path, tiny_frame, task, model):
    schema = infer_schema(tiny_frame, target="label")
    features = conform(tiny_frame.drop(columns="label"), schema)
    target = tiny_frame["label"] if task == "classification" else tiny_frame["count"] * 1.5
    pipeline = build_pipeline(_params(task, model), schema).fit(features, target)
    save_model(pipeline, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    assert np.array_equal(loaded.predict(features), pipeline.predict(features))


def _distinct_rows(tiny_frame, task: str, rows: int = 300):
    """`rows` rows of the six, with distinct numbers (a tree's splits depend on every digit)."""
    frame = tiny_frame.sample(rows, replace=True, random_state=2).reset_index(drop=True)
    frame["size"] = frame["size"] + np.arange(rows) / 7
    schema = infer_schema(frame, target="label")
    features = conform(frame.drop(columns="label"), schema)
    target = frame["label"] if task == "classification" else frame["count"] * 1.5 + np.arange(rows) / 9
    return schema, features, target


@pytest.mark.parametrize("chunk", [100_000, 64], ids=["at-once", "in-chunks"])
@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m["name"])
def test_the_preprocessing_then_the_estimator_fit_the_model_pipeline_fit_gives(
    tiny_frame, task, model, chunk
):
    schema, features, target = _distinct_rows(tiny_frame, task)
    params = _params(task, model)
    whole = build_pipeline(params, schema).fit(features, target)
    pipeline = build_pipeline(params, schema)
    matrix = fit_preprocessing(pipeline, features, chunk=chunk)
    # In the type the estimator computes in: a forest's own fit would make this float32 copy itself.
    assert matrix.dtype == (np.float32 if model["name"] == "random_forest" else np.float64)
    # In chunks, the scaler's mean and variance are summed a chunk at a time: equal to within rounding.
    expected, rounding = whole[:-1].transform(features).astype(matrix.dtype), np.finfo(matrix.dtype).eps * 8
    assert np.allclose(matrix, expected, rtol=rounding, atol=rounding)
    assert fit_estimator(pipeline, matrix, target) is pipeline
    if chunk == 100_000 or model["name"] != "linear":  # a tree's splits fall between the same values
        assert np.array_equal(pipeline.predict(features), whole.predict(features))
        if task == "classification":
            assert np.array_equal(pipeline.predict_proba(features), whole.predict_proba(features))
        # The train stage scores the estimator on its input instead of the pipeline on the frame.
        assert score(task, pipeline[-1], matrix, target) == score(task, whole, features, target)
    else:  # a linear model's coefficients move with the last digits of the scaling
        assert np.allclose(pipeline.predict(features), whole.predict(features), rtol=1e-9)


@pytest.mark.parametrize(
    ("encoding", "sizes_at_first", "in_chunks"),
    [
        ("ordinal", True, True),  # a category the first chunk lacks is learnt from the others
        ("onehot", True, False),  # its own column is missing from the first chunk's fit: fit at once
        ("ordinal", False, False),  # so is a column the first chunk has no value of
    ],
)
def test_the_preprocessing_in_chunks_learns_from_every_row_or_is_fitted_at_once(
    tiny_frame, monkeypatch, encoding, sizes_at_first, in_chunks
):
    schema, features, target = _distinct_rows(tiny_frame, "classification")
    order = features["colour"].fillna("").argsort(kind="stable")  # missing, then blue: no red in 100 rows
    features, target = features.iloc[order].reset_index(drop=True), target.iloc[order].reset_index(drop=True)
    if not sizes_at_first:
        features.loc[:99, "size"] = np.nan
    chunked = []
    fit_in_chunks = model_module._fit_in_chunks
    monkeypatch.setattr(
        model_module, "_fit_in_chunks", lambda *a: chunked.append(fit_in_chunks(*a)) or chunked[-1]
    )
    model = {"name": "random_forest", "n_estimators": 5}
    params = _params("classification", model, {"categorical_encoding": encoding})
    whole = build_pipeline(params, schema).fit(features, target)
    pipeline = build_pipeline(params, schema)
    matrix = fit_preprocessing(pipeline, features, chunk=100)
    assert [m is not None for m in chunked] == [in_chunks]
    fitted, expected = pipeline.named_steps["features"], whole.named_steps["features"]
    assert list(fitted.get_feature_names_out()) == list(expected.get_feature_names_out())
    for name in ("numeric", "categorical"):
        branch, reference = fitted.named_transformers_[name], expected.named_transformers_[name]
        assert np.array_equal(branch[0].statistics_, reference[0].statistics_)
        assert branch[0].copy  # set back after the fit, which reads its matrix without copying it
    scaled, reference = fitted.named_transformers_["numeric"][-1], expected.named_transformers_["numeric"][-1]
    assert np.allclose(scaled.mean_, reference.mean_, rtol=1e-12)
    assert np.allclose(scaled.var_, reference.var_, rtol=1e-12)
    assert np.array_equal(matrix, whole[:-1].transform(features).astype(np.float32))


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m["name"])
def test_answers_in_chunks_are_those_of_one_call(tiny_frame, task, model):
    schema, features, target = _distinct_rows(tiny_frame, task)
    pipeline = build_pipeline(_params(task, model), schema).fit(features, target)
    matrix = pipeline[:-1].transform(features)
    methods = ["predict", "predict_proba"] if task == "classification" else ["predict"]
    for method in methods:
        whole = getattr(pipeline, method)(features)
        assert np.array_equal(answers(pipeline, features, method, chunk=7), whole)  # 43 calls, the last of 6
        assert np.array_equal(answers(pipeline[-1], matrix, method, chunk=7), whole)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m["name"])
def test_unseen_category_is_ignored_not_an_error(tiny_frame, model):
    schema = infer_schema(tiny_frame, target="label")
    features = conform(tiny_frame.drop(columns="label"), schema)
    pipeline = build_pipeline(_params("classification", model), schema).fit(features, tiny_frame["label"])
    assert len(pipeline.predict(features.assign(colour="purple"))) == len(features)
    encoded = pipeline.named_steps["features"].transform(features.assign(colour="purple"))
    # one-hot: no column of its own (all zeros); ordinal: -1, below every known category
    assert (encoded[:, 2:] == (-1 if encoded.shape[1] == 3 else 0)).all()


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_forest_draws_at_most_max_samples_rows_per_tree_and_is_saved_for_one_job(tiny_frame, task):
    frame = tiny_frame.sample(600, replace=True, random_state=0).reset_index(drop=True)
    schema = infer_schema(frame, target="label")
    features = conform(frame.drop(columns="label"), schema)
    target = frame["label"] if task == "classification" else frame["count"] * 1.5
    bounded = _params(task, {"name": "random_forest", "n_estimators": 3, "max_samples": 100})
    model = fit_model(bounded, schema, features, target)
    draws = {tree.tree_.weighted_n_node_samples[0] for tree in model[-1].estimators_}
    assert draws == {100.0}, "each tree grew from 100 rows drawn with replacement"
    assert model[-1].n_jobs == 1, "fitted on every core, served from one"
    # A bound at or above the rows fitted on is no bound: the same forest as without it.
    loose = _params(task, {"name": "random_forest", "n_estimators": 3, "max_samples": 600})
    unbounded = _params(task, {"name": "random_forest", "n_estimators": 3})
    loose_model = fit_model(loose, schema, features, target)
    assert loose_model[-1].max_samples is None
    same = fit_model(unbounded, schema, features, target)
    assert np.array_equal(loose_model.predict(features), same.predict(features))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_forest_grows_at_most_max_leaf_nodes_leaves_unless_the_bound_cannot_bind(tiny_frame, task):
    frame = tiny_frame.sample(600, replace=True, random_state=0).reset_index(drop=True)
    frame["count"] = frame["count"] + np.arange(600) / 100  # many distinct rows: deep trees
    frame["label"] = (np.arange(600) * 7 % 3 == 0).astype(int)  # labels the features cannot tell apart
    schema = infer_schema(frame, target="label")
    features = conform(frame.drop(columns="label"), schema)
    target = frame["label"] if task == "classification" else frame["label"] * 2.5 + frame["count"]
    forest = {"name": "random_forest", "n_estimators": 3}
    bounded = fit_model(_params(task, forest | {"max_leaf_nodes": 8}), schema, features, target)
    assert {tree.get_n_leaves() for tree in bounded[-1].estimators_} == {8}
    # A bound of at least the rows drawn for a tree (here 100 of them) is no bound: the same forest.
    loose = fit_model(
        _params(task, forest | {"max_samples": 100, "max_leaf_nodes": 100}), schema, features, target
    )
    assert loose[-1].max_leaf_nodes is None
    same = fit_model(_params(task, forest | {"max_samples": 100}), schema, features, target)
    assert max(tree.get_n_leaves() for tree in same[-1].estimators_) <= 100
    assert np.array_equal(loose.predict(features), same.predict(features))
    kept = fit_model(
        _params(task, forest | {"max_samples": 100, "max_leaf_nodes": 99}), schema, features, target
    )
    assert kept[-1].max_leaf_nodes == 99, "a bound below the rows drawn is kept"


def test_rows_per_tree_leaves_other_estimators_alone(tiny_frame):
    schema = infer_schema(tiny_frame, target="label")
    for model in MODELS[1:]:  # gradient boosting has a max_leaf_nodes of its own, which stays
        pipeline, untouched = (build_pipeline(_params("classification", model), schema) for _ in range(2))
        assert rows_per_tree(pipeline, 3) is pipeline
        assert pipeline[-1].get_params() == untouched[-1].get_params()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m["name"])
@pytest.mark.parametrize("classes", [2, 3])
def test_scores_take_the_labels_the_classifier_predicts(tiny_frame, model, classes):
    frame = tiny_frame.sample(60, replace=True, random_state=1).reset_index(drop=True)
    frame["label"] = (frame["count"] % classes).astype(str)
    frame.loc[frame.index % 7 == 0, "label"] = "0"  # some labels the features cannot tell
    schema = infer_schema(frame, target="label")
    features = conform(frame.drop(columns="label"), schema)
    pipeline = build_pipeline(_params("classification", model), schema).fit(features, frame["label"])
    proba, classes_ = pipeline.predict_proba(features), list(pipeline.classes_)
    expected = classification_scores(frame["label"], pipeline.predict(features), proba, classes_)
    assert score("classification", pipeline, features, frame["label"]) == {
        name: round(value, 6) for name, value in expected.items()
    }


# The heaps ("arenas") glibc's malloc_info lists before and after four threads allocate at once.
HEAPS = """
import ctypes, sys, threading
from {{ cookiecutter.package_name }}.data import one_heap
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
def heaps(path):
    stream = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
if sys.argv[1] == "one":
    one_heap()
heaps(sys.argv[2])
start = threading.Barrier(4)
def allocate():
    start.wait()
    held = [bytearray(100_000) for _ in range(50)]  # below the size glibc maps on its own
threads = [threading.Thread(target=allocate) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
heaps(sys.argv[3])
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="one_heap tunes glibc's allocator only")
def test_one_heap_gives_the_threads_of_a_stage_no_heaps_of_their_own(tmp_path):
    added = {}
    for mode in ("default", "one"):
        before, after = tmp_path / f"{mode}-before.xml", tmp_path / f"{mode}-after.xml"
        subprocess.run([sys.executable, "-c", HEAPS, mode, str(before), str(after)], check=True, timeout=60)
        added[mode] = after.read_text().count("<heap nr=") - before.read_text().count("<heap nr=")
    assert added["default"] > 0, "glibc gives threads heaps of their own"
    assert added["one"] == 0
    one_heap()  # in this process too: no error where the stages call it
