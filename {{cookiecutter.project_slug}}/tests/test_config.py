"""params.yaml parsing: the committed file and a valid sample load; typos and bad values are refused."""

from __future__ import annotations

import copy

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import ParamsError, load_params, parse_params

VALID = {
    "task": "classification",
    "data": {"source": "demo", "target": "target", "test_size": 0.25, "seed": 1},
    "model": {"name": "random_forest", "n_estimators": 10},
    "gate": {"accuracy": {"min": 0.8, "tolerance": 0.01}, "roc_auc": {"min": 0.9}},
}


def test_committed_params_file_parses(params):
    assert params.task in ("classification", "regression")
    assert params.gate, "the gate needs at least one metric"


def test_valid_sample_parses_with_defaults():
    parsed = parse_params(VALID)
    assert parsed.model.n_estimators == 10
    assert parsed.model.min_samples_leaf == 1
    assert parsed.validate_.range_margin == 0.5


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("model", "n_estimator"), 10, "model.random_forest.n_estimator"),
        (("data", "test_size"), 1.5, "data.test_size"),
        (("model", "name"), "xgboost", "model"),
        (("gate", "precision"), {"min": 0.5}, "unknown classification metrics"),
        (("gate", "accuracy"), {"min": 0.5, "max": 0.9}, "either min or max"),
        (("colour",), "blue", "colour"),
    ],
)
def test_invalid_sample_names_the_problem(path, value, expected):
    raw = copy.deepcopy(VALID)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ParamsError, match=expected.replace(".", r"\.")):
        parse_params(raw)


def test_unreadable_file_is_a_params_error(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("task: [unclosed")
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(bad)


def test_every_switchable_model_parses():
    for model in (
        {"name": "gradient_boosting", "learning_rate": 0.05},
        {"name": "linear", "regularization": 2},
    ):
        raw = copy.deepcopy(VALID) | {"model": model}
        assert parse_params(yaml.safe_load(yaml.safe_dump(raw))).model.name == model["name"]


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ({"sample_rte": 0.5}, "monitor.sample_rte"),
        ({"sample_rate": 1.5}, "monitor.sample_rate"),
        ({"sample_rate": -0.1}, "monitor.sample_rate"),
        ({"exclude": "email"}, "monitor.exclude"),
    ],
)
def test_a_bad_monitor_section_is_refused_naming_the_key(monitor, expected):
    with pytest.raises(ParamsError, match=expected.replace(".", r"\.")):
        parse_params(copy.deepcopy(VALID) | {"monitor": monitor})


def test_the_monitor_section_records_everything_by_default():
    assert parse_params(VALID).monitor.sample_rate == 1.0
    assert parse_params(copy.deepcopy(VALID) | {"monitor": {"sample_rate": 0.0}}).monitor.sample_rate == 0.0
