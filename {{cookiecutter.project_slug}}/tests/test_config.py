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
        (("gate", "r2"), {"min": 0.5}, "unknown classification metrics"),
        (("gate", "accuracy"), {"min": 0.5, "max": 0.9}, "either min or max"),
        (("colour",), "blue", "colour"),
        (("crossval", "folds"), 1, "crossval.folds"),
        (("crossval", "fold"), 5, "crossval.fold"),
        (("importance", "metric"), "r2", "importance.metric 'r2' is not a classification metric"),
        (("slices", "colums"), ["region"], "slices.colums"),
        (("slices", "metrics"), {"r2": {"min": 0.5}}, "slices.metrics names unknown classification metric"),
        (("slices", "metrics"), {"accuracy": {"max": 0.5}}, "accuracy is bounded by min, not max"),
        (("slices", "metrics"), {"accuracy": {"min": 0.5, "gap": 0.1}}, "slices.metrics.accuracy.gap"),
        (("slices", "fairness"), {"demographic_parity": 1.5}, "slices.fairness.demographic_parity"),
        (("slices", "columns"), ["target"], "slices.columns names the target column"),
        (("data", "exclude_from_features"), ["target"], "data.exclude_from_features names the target"),
        (("data", "exclude_from_features"), ["sex", "sex"], "names a column twice"),
    ],
)
def test_invalid_sample_names_the_problem(path, value, expected):
    raw = copy.deepcopy(VALID)
    target = raw
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    with pytest.raises(ParamsError, match=expected.replace(".", r"\.")):
        parse_params(raw)


def test_evaluation_sections_parse_with_their_defaults():
    parsed = parse_params(VALID)
    assert (parsed.crossval.folds, parsed.crossval.max_deviation_std) == (5, 3.0)
    assert parsed.slices.columns == []
    full = copy.deepcopy(VALID) | {
        "crossval": {"folds": 3, "max_deviation_std": None},
        "importance": {"metric": "roc_auc", "n_repeats": 2, "top": 5},
        "slices": {
            "columns": ["sex"],
            "min_group_size": 10,
            "metrics": {"accuracy": {"min": 0.8, "max_gap": 0.1}},
            "fairness": {"demographic_parity": 0.2, "equalized_odds": 0.2},
        },
    }
    full["data"] = full["data"] | {"exclude_from_features": ["sex"]}
    parsed = parse_params(full)
    assert parsed.slices.metrics["accuracy"].max_gap == 0.1
    assert parsed.data.exclude_from_features == ["sex"]


def test_fairness_tolerances_are_refused_for_regression():
    raw = copy.deepcopy(VALID) | {
        "task": "regression",
        "gate": {"r2": {"min": 0.1}},
        "slices": {"fairness": {"equalized_odds": 0.1}},
    }
    with pytest.raises(ParamsError, match="classification only"):
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
        ({"drift": {"alpha": 1.5}}, "monitor.drift.alpha"),
        ({"drift": {"window": "7 days"}}, "monitor.drift.window"),
        ({"drift": {"correction": "holm"}}, "monitor.drift.correction"),
        ({"drift": {"min_row": 10}}, "monitor.drift.min_row"),
        ({"feedback": {"min_rows": 0}}, "monitor.feedback.min_rows"),
    ],
)
def test_a_bad_monitor_section_is_refused_naming_the_key(monitor, expected):
    with pytest.raises(ParamsError, match=expected.replace(".", r"\.")):
        parse_params(copy.deepcopy(VALID) | {"monitor": monitor})


def test_the_monitor_section_records_everything_by_default():
    assert parse_params(VALID).monitor.sample_rate == 1.0
    assert parse_params(copy.deepcopy(VALID) | {"monitor": {"sample_rate": 0.0}}).monitor.sample_rate == 0.0
