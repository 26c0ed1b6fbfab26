"""Features and model building: every estimator fits a frame with missing values and categories."""

from __future__ import annotations

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.features import build_preprocessor
from {{ cookiecutter.package_name }}.model import build_pipeline, load_model, save_model
from {{ cookiecutter.package_name }}.schema import conform, infer_schema

MODELS = [
    {"name": "random_forest", "n_estimators": 5},
    {"name": "gradient_boosting", "max_iter": 5},
    {"name": "linear"},
]


def _params(task: str, model: dict):
    gate = {"accuracy": {"min": 0.0}} if task == "classification" else {"r2": {"min": -10.0}}
    return parse_params(
        {"task": task, "data": {"source": "csv", "target": "label"}, "model": model, "gate": gate}
    )


def test_preprocessor_imputes_scales_and_one_hot_encodes(tiny_frame):
    schema = infer_schema(tiny_frame, target="label")
    features = conform(tiny_frame.drop(columns="label"), schema)
    matrix = build_preprocessor(schema, _params("classification", MODELS[0]).features).fit_transform(features)
    assert matrix.shape == (6, 2 + 2)  # size, count, colour=blue, colour=red
    assert not np.isnan(matrix).any(), "missing values are imputed before the estimator"
    assert np.allclose(matrix[:, :2].mean(axis=0), 0.0), "numeric columns are standardised"


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


def test_unseen_category_is_ignored_not_an_error(tiny_frame):
    schema = infer_schema(tiny_frame, target="label")
    features = conform(tiny_frame.drop(columns="label"), schema)
    pipeline = build_pipeline(_params("classification", MODELS[0]), schema).fit(features, tiny_frame["label"])
    assert len(pipeline.predict(features.assign(colour="purple"))) == len(features)
