"""Model quality on the held-out split: the trained model meets every bound of the gate in params.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skops.io as sio

from {{ cookiecutter.package_name }}.data import features_and_target
from {{ cookiecutter.package_name }}.metrics import score
from {{ cookiecutter.package_name }}.model import UntrustedModelError, load_model
from {{ cookiecutter.package_name }}.schema import conform


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
    from {{ cookiecutter.package_name }} import model as model_module

    monkeypatch.setattr(model_module, "TRUSTED_TYPES", [])
    if not sio.get_untrusted_types(file=model_path):
        pytest.skip("this estimator needs no extra trusted types")
    with pytest.raises(UntrustedModelError, match="not trusted"):
        model_module.load_model(model_path)
