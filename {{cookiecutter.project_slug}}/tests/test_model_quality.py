"""Model quality on the held-out split: the trained model meets every bound of the gate in params.yaml,
and it is only ever loaded with skops and the trusted-types list, from a file or from MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from {{ cookiecutter.package_name }}.data import features_and_target
from {{ cookiecutter.package_name }}.metrics import score
from {{ cookiecutter.package_name }}.model import (
    TRUSTED_TYPES,
    ModelSourceError,
    UntrustedModelError,
    load_model,
    serving_model,
)
from {{ cookiecutter.package_name }}.model_io import load_predictions, save_predictions
from {{ cookiecutter.package_name }}.schema import conform
from {{ cookiecutter.package_name }}.serving.settings import ServingSettings


@pytest.fixture(scope="module")
def held_out_scores(params, schema, held_out, model_path):
    features, target = features_and_target(held_out, params.data.target)
    return score(params.task, load_model(model_path), conform(features, schema), target)


def test_held_out_scores_meet_the_gate_bounds(params, held_out_scores):
    for metric, rule in params.gate.items():
        if rule.min is not None:
            assert held_out_scores[metric] >= rule.min, f"{metric} below {rule.min}"
        if rule.max is not None:
            assert held_out_scores[metric] <= rule.max, f"{metric} above {rule.max}"


def test_committed_metrics_are_the_models_scores(held_out_scores):
    recorded = json.loads(Path("reports/metrics.json").read_text())
    assert recorded == pytest.approx(held_out_scores, abs=1e-6)


def test_model_file_with_untrusted_types_is_refused(tmp_path, monkeypatch, model_path):
    from {{ cookiecutter.package_name }} import model_io as model_module

    monkeypatch.setattr(model_module, "TRUSTED_TYPES", [])
    if not sio.get_untrusted_types(file=model_path):
        pytest.skip("this estimator needs no extra trusted types")
    with pytest.raises(UntrustedModelError, match="not trusted"):
        model_module.load_model(model_path)


@pytest.fixture
def held_out_features(params, schema, held_out):
    return conform(features_and_target(held_out, params.data.target)[0], schema)


@pytest.fixture
def mlflow_model(tmp_path, monkeypatch, model_path):
    """Save the trained model as an MLflow model in a folder; MODEL_URI may name it. Tracking goes to a
    throwaway file, so the test never reaches a team's server."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    def save(serialization_format: str = "skops"):
        folder = tmp_path / f"model-{serialization_format}"
        extra = {"skops_trusted_types": TRUSTED_TYPES} if serialization_format == "skops" else {}
        # pip_requirements given: inferring them would import the model in a subprocess (seconds).
        mlflow.sklearn.save_model(
            load_model(model_path), folder, serialization_format=serialization_format,
            pip_requirements=["scikit-learn"], **extra,
        )  # fmt: skip
        return folder

    return save


def served(environ: dict[str, str]):
    """The model the service would answer with, given these variables."""
    settings = ServingSettings.from_environ(environ)
    return serving_model(settings.model_uri, settings.model_path, settings.onnx_model_path)


def test_serving_model_without_model_uri_is_the_local_file(model_path, held_out_features):
    expected = load_model(model_path).predict(held_out_features)
    assert (served({}).predict(held_out_features) == expected).all()


def test_serving_model_by_model_uri_loads_the_mlflow_models_skops_file(
    mlflow_model, model_path, held_out_features
):
    environ = {"MODEL_URI": str(mlflow_model()), "MODEL_PATH": "no/such/file.skops"}  # MODEL_URI wins
    expected = load_model(model_path).predict(held_out_features)
    assert (served(environ).predict(held_out_features) == expected).all()


def test_serving_model_refuses_a_pickled_mlflow_model(mlflow_model):
    with pytest.raises(ModelSourceError, match="not a scikit-learn model saved with skops"):
        served({"MODEL_URI": str(mlflow_model("cloudpickle"))})


def test_the_held_out_predictions_file_is_what_the_model_predicts(
    params, schema, held_out, model_path, heldout_predictions_path
):
    """The profile stage takes its prediction reference from this file instead of loading the model."""
    features, _ = features_and_target(held_out, params.data.target)
    expected = load_model(model_path).predict(conform(features, schema))
    assert load_predictions(heldout_predictions_path) == expected.tolist()


@pytest.mark.parametrize(
    "predictions",
    [np.array([0, 1, 1]), np.array(["no", "yes", "no"], dtype=object), np.array([0.1, 2 / 3, -1e-300])],
    ids=["integer labels", "text labels", "floats"],
)
def test_saved_predictions_come_back_with_their_type_and_every_digit(tmp_path, predictions):
    path = tmp_path / "predictions.json"
    save_predictions(predictions, path)
    loaded = load_predictions(path)
    assert loaded == predictions.tolist()
    assert [type(value) for value in loaded] == [type(value) for value in predictions.tolist()]
