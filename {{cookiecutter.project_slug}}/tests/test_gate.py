"""The quality gate: absolute bounds, regressions against a baseline in both directions, the report."""

from __future__ import annotations

import json

from {{ cookiecutter.package_name }}.config import MetricGate
from {{ cookiecutter.package_name }}.gate import evaluate_gate, report
from {{ cookiecutter.package_name }}.metrics import HIGHER_IS_BETTER
from {{ cookiecutter.package_name }}.stages import gate as gate_stage

RULES = {
    "accuracy": MetricGate(min=0.8, tolerance=0.02),
    "rmse": MetricGate(max=10.0, tolerance=0.1, relative=True),
}


def test_metrics_within_bounds_and_tolerance_pass():
    checks = evaluate_gate(RULES, {"accuracy": 0.90, "rmse": 5.4}, {"accuracy": 0.91, "rmse": 5.0})
    assert all(check.passed for check in checks)


def test_value_below_the_minimum_fails_and_is_named():
    (accuracy, _) = evaluate_gate(RULES, {"accuracy": 0.7, "rmse": 5.0}, None)
    assert not accuracy.passed
    assert "accuracy = 0.7 is below the minimum 0.8" in accuracy.reason


def test_a_regression_beyond_tolerance_fails_the_gate_for_higher_is_better():
    (accuracy, _) = evaluate_gate(RULES, {"accuracy": 0.85, "rmse": 5.0}, {"accuracy": 0.90, "rmse": 5.0})
    assert not accuracy.passed
    assert "dropped from 0.9 to 0.85" in accuracy.reason


def test_a_rise_beyond_relative_tolerance_fails_the_gate_for_lower_is_better():
    (_, rmse) = evaluate_gate(RULES, {"accuracy": 0.9, "rmse": 5.6}, {"accuracy": 0.9, "rmse": 5.0})
    assert not rmse.passed
    assert "rmse rose from 5 to 5.6" in rmse.reason


def test_every_broken_rule_of_a_metric_is_reported():
    (accuracy, _) = evaluate_gate(RULES, {"accuracy": 0.5, "rmse": 5.0}, {"accuracy": 0.9, "rmse": 5.0})
    assert "below the minimum 0.8" in accuracy.reason
    assert "dropped from 0.9 to 0.5" in accuracy.reason


def test_improvements_always_pass():
    checks = evaluate_gate(RULES, {"accuracy": 0.99, "rmse": 1.0}, {"accuracy": 0.9, "rmse": 5.0})
    assert all(check.passed for check in checks)


def test_a_missing_metric_fails():
    (accuracy, _) = evaluate_gate(RULES, {"rmse": 5.0}, None)
    assert not accuracy.passed


def test_report_is_a_markdown_table_with_deltas_and_verdict():
    text = report(evaluate_gate(RULES, {"accuracy": 0.85, "rmse": 5.0}, {"accuracy": 0.90, "rmse": 5.0}))
    assert text.startswith("## Model quality gate: FAIL")
    assert "| metric | baseline | current | delta | threshold | result |" in text
    assert (
        "| accuracy (higher is better) | 0.9000 | 0.8500 | -0.0500 | >= 0.8, baseline - 0.02 | FAIL |" in text
    )


def test_gate_command_exits_non_zero_and_names_the_metric(tmp_path, params, capsys):
    """The `make gate` entry point: a clear regression against a baseline fails and is named."""
    metric = next(iter(params.gate))
    worse = -1000.0 if HIGHER_IS_BETTER[metric] else 1000.0
    baseline, current = tmp_path / "baseline.json", tmp_path / "metrics.json"
    baseline.write_text(json.dumps({metric: 0.5}))
    current.write_text(json.dumps({metric: 0.5 + worse}))
    argv = ["--metrics", str(current), "--baseline", str(baseline), "--report", str(tmp_path / "gate.md")]
    assert gate_stage.main([*argv, "--no-promote"]) == 1
    assert metric in capsys.readouterr().err
    assert (tmp_path / "gate.md").read_text().startswith("## Model quality gate: FAIL")
