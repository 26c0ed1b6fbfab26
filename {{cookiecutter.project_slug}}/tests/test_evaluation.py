"""Cross-validation, permutation importance, slices and fairness, and the model card, on frames built here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from {{ cookiecutter.package_name }}.config import SliceRule, SlicesConfig, parse_params
from {{ cookiecutter.package_name }}.evaluation import card, crossval, importance, slices
from {{ cookiecutter.package_name }}.gate import evaluate_gate, report
from {{ cookiecutter.package_name }}.schema import column_problems, infer_schema


def people(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """`signal` decides the label, `noise` does not; in group "b" a third of the labels are flipped, so
    any model is worse there."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame({"signal": rng.normal(size=rows), "noise": rng.normal(size=rows)})
    group = pd.Series(rng.choice(["a", "b"], size=rows, p=[0.6, 0.4]), name="group")
    label = (features["signal"] > 0).astype(int)
    flip = (group == "b") & (rng.random(rows) < 0.33)
    return features, label.where(~flip, 1 - label), group


@pytest.fixture(scope="module")
def fitted():
    features, label, group = people()
    return LogisticRegression().fit(features, label), features, label, group


def test_cross_validation_reports_mean_and_spread_of_every_metric_over_k_folds():
    features, label, _ = people()
    spread = crossval.cross_validate("classification", LogisticRegression(), features, label, folds=4, seed=1)
    assert set(spread) == {"accuracy", "f1", "roc_auc", "precision", "recall"}
    accuracy = spread["accuracy"]
    assert len(accuracy["folds"]) == 4
    assert accuracy["mean"] == pytest.approx(np.mean(accuracy["folds"]), abs=1e-6)
    assert accuracy["std"] == pytest.approx(np.std(accuracy["folds"], ddof=1), abs=1e-6)
    assert 0.7 < accuracy["mean"] < 0.95, "learnable, but not in group b"


def test_cross_validation_of_a_regression_uses_its_metrics():
    rng = np.random.default_rng(3)
    features = pd.DataFrame({"x": rng.normal(size=120)})
    target = 3 * features["x"] + rng.normal(scale=0.1, size=120)
    spread = crossval.cross_validate("regression", LinearRegression(), features, target, folds=3, seed=0)
    assert set(spread) == {"r2", "rmse", "mae"}
    assert spread["r2"]["mean"] > 0.99


def test_cross_validation_draws_its_folds_from_a_sample_of_at_most_max_rows_rows():
    features, label, _ = people()
    kept, kept_label = crossval.sample(features, label, 150, seed=3)
    assert len(kept) == 150
    assert kept.index.is_monotonic_increasing, "the split's own order"
    assert kept.index.equals(kept_label.index)
    assert kept.index.equals(crossval.sample(features, label, 150, seed=3)[0].index), "the seed decides"
    assert not kept.index.equals(crossval.sample(features, label, 150, seed=4)[0].index)
    assert crossval.sample(features, label, 400, seed=3)[0] is features, "no more rows than the bound"
    assert crossval.sample(features, label, None, seed=3)[0] is features
    assert [crossval.sampled_rows(400, bound) for bound in (150, 400, 1000, None)] == [150, 400, 400, 400]
    model = LogisticRegression()
    spread = crossval.cross_validate("classification", model, kept, kept_label, folds=3, seed=1)
    assert len(spread["accuracy"]["folds"]) == 3
    (title,) = (line for line in crossval.markdown({"accuracy": 0.8}, spread, 3, 3.0, 150) if "###" in line)
    assert "3 folds on at most 150 rows of the training split" in title
    (title,) = (line for line in crossval.markdown({"accuracy": 0.8}, spread, 3, None, None) if "###" in line)
    assert "3 folds on the training split; not gated" in title


def test_a_held_out_metric_far_below_the_cross_validated_mean_fails_naming_it():
    spread = {"accuracy": {"mean": 0.90, "std": 0.01}, "rmse": {"mean": 5.0, "std": 0.5}}
    assert crossval.deviation_failures(["accuracy"], {"accuracy": 0.88}, spread, 3.0) == []
    (failure,) = crossval.deviation_failures(["accuracy"], {"accuracy": 0.85}, spread, 3.0)
    assert "held-out accuracy = 0.85" in failure
    assert "3 x std 0.01" in failure
    (failure,) = crossval.deviation_failures(["rmse"], {"rmse": 7.0}, spread, 3.0)
    assert "held-out rmse = 7" in failure, "lower is better: a rise fails"
    assert crossval.deviation_failures(["rmse"], {"rmse": 3.0}, spread, 3.0) == []
    assert crossval.deviation_failures(["accuracy"], {"accuracy": 0.1}, spread, None) == [], "off"


def test_permutation_importance_ranks_the_column_the_label_depends_on_first(fitted):
    model, features, label, _ = fitted
    ranked = importance.permutation("classification", model, features, label, "roc_auc", 3, seed=0)
    first, second = ranked["features"]
    assert (first["feature"], second["feature"]) == ("signal", "noise")
    assert first["mean"] > 0.2
    assert abs(second["mean"]) < 0.02
    assert "| 1 | signal |" in "\n".join(importance.markdown(ranked, top=1))


def test_permutation_importance_shuffles_a_sample_of_max_rows_rows(fitted):
    model, features, label, _ = fitted
    sampled = importance.permutation("classification", model, features, label, "roc_auc", 3, 0, max_rows=150)
    assert sampled["rows"] == 150 < len(features)
    assert sampled["features"][0]["feature"] == "signal"
    assert sampled == importance.permutation("classification", model, features, label, "roc_auc", 3, 0, 150)
    assert "3 repeats of 150 rows" in importance.markdown(sampled, top=1)[0]
    every = importance.permutation("classification", model, features, label, "roc_auc", 3, 0, max_rows=10**6)
    assert every["rows"] == len(features)


def test_importance_plot_is_written(fitted, tmp_path):
    model, features, label, _ = fitted
    ranked = importance.permutation("classification", model, features, label, "accuracy", 2, seed=0)
    path = importance.plot(ranked, tmp_path / "importance.png", top=5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_slices_find_the_worse_group_with_sizes_gap_and_fairness(fitted):
    model, features, label, group = fitted
    result = slices.slice_column("classification", model, features, label, group, min_size=30)
    sizes = {row["group"]: row["rows"] for row in result["groups"]}
    assert sizes == {"a": int((group == "a").sum()), "b": int((group == "b").sum())}
    accuracy = {row["group"]: row["metrics"]["accuracy"] for row in result["groups"]}
    assert accuracy["a"] - accuracy["b"] > 0.15
    assert result["worst"]["accuracy"]["group"] == "b"
    assert result["gap"]["accuracy"] == pytest.approx(accuracy["a"] - accuracy["b"], abs=1e-6)
    assert result["fairness"]["equalized_odds"] > 0.1
    assert 0.0 <= result["fairness"]["demographic_parity"] <= 1.0


def test_a_small_group_is_listed_but_never_compared(fitted):
    model, features, label, group = fitted
    tiny = group.copy()
    tiny.iloc[:5] = None  # five rows with a missing value: a group of their own
    result = slices.slice_column("classification", model, features, label, tiny, min_size=30)
    sizes = {row["group"]: row["rows"] for row in result["groups"]}
    assert sizes[slices.MISSING] == 5
    assert slices.MISSING not in {worst["group"] for worst in result["worst"].values()}


def slice_report(fitted, **rules) -> tuple[dict, SlicesConfig]:
    model, features, label, group = fitted
    config = SlicesConfig(columns=["group"], min_group_size=30, **rules)
    frame = pd.DataFrame({"group": group})
    return slices.slice_report("classification", model, features, label, frame, config), config


def test_the_slice_gate_names_the_column_and_group_below_its_bound(fitted):
    report_, config = slice_report(fitted, metrics={"accuracy": SliceRule(min=0.85)})
    (failure,) = slices.failures(report_, config)
    assert failure.startswith("slice group=b (")
    assert "accuracy = " in failure
    assert "below the minimum 0.85" in failure


def test_a_gap_beyond_tolerance_fails_and_a_wider_tolerance_passes(fitted):
    report_, config = slice_report(fitted, metrics={"accuracy": SliceRule(max_gap=0.05)})
    (failure,) = slices.failures(report_, config)
    assert "slice group: accuracy gap" in failure
    assert "worst group group=b" in failure
    report_, config = slice_report(fitted, metrics={"accuracy": SliceRule(max_gap=0.6)})
    assert slices.failures(report_, config) == []


def test_a_fairness_difference_beyond_tolerance_fails(fitted):
    report_, config = slice_report(fitted, fairness={"equalized_odds": 0.01})
    (failure,) = slices.failures(report_, config)
    assert "slice group: equalized odds difference" in failure


def test_slice_table_shows_every_group_worst_and_gap(fitted):
    report_, config = slice_report(fitted, metrics={"accuracy": SliceRule(min=0.85, max_gap=0.1)})
    table = "\n".join(slices.markdown(report_, config, "classification"))
    assert "| group | rows | accuracy | f1 | roc_auc | precision | recall |" in table
    assert "| **worst group** | | b |" in table
    assert "Slice rules: accuracy: >= 0.85, gap <= 0.1." in table


def test_a_slice_column_that_is_not_in_the_data_or_has_too_many_values_is_named():
    frame = pd.DataFrame({"region": ["n", "s"], "id": [1, 2]})
    (missing,) = column_problems(frame, ["regoin"], 50, "slices.columns")
    assert missing == "slices.columns names 'regoin', which is not a column of the data (region, id)"
    (many,) = column_problems(frame, ["id"], 1, "slices.columns")
    assert "'id', which has 2 distinct values" in many


def test_slice_and_cross_validation_failures_fail_the_gate_report():
    checks = evaluate_gate(parse_params(PARAMS).gate, {"accuracy": 0.9}, None)
    text = report(checks, sections=["### Slices", "| region |"], failures=["slice region=south: bad"])
    assert text.startswith("## Model quality gate: FAIL")
    assert "- slice region=south: bad" in text
    assert "### Slices\n| region |" in text


PARAMS = {
    "task": "classification",
    "data": {"source": "csv", "target": "label", "exclude_from_features": ["group"]},
    "model": {"name": "linear"},
    "gate": {"accuracy": {"min": 0.5}},
    "slices": {"columns": ["group"], "min_group_size": 30},
}


def written(text: str) -> dict:
    return dict.fromkeys(card.TITLES, text)


def render(human: card.HumanSections, fitted) -> str:
    model, features, label, group = fitted
    params = parse_params(PARAMS)
    schema = infer_schema(features.assign(group=group, label=label), "label").model_copy(
        update={"excluded": ["group"]}
    )
    report_, _ = slice_report(fitted)
    reports = {
        "metrics": {"accuracy": 0.8},
        "crossval": {"accuracy": {"mean": 0.81, "std": 0.02}},
        "slices": report_,
        "importance": importance.permutation("classification", model, features, label, "accuracy", 2, 0),
    }
    provenance = card.Provenance("data/raw/data.csv", "ab" * 32, 500, 400, 100, "none")
    run = {"run_id": "r1", "model_uri": "models:/m-1", "git_commit": "abc123"}
    return card.render(params, schema, human, run, provenance, reports)


def test_the_card_carries_human_sections_unchanged_and_the_generated_ones(fitted):
    human = card.HumanSections(**written("Written by the team.\n\nSecond paragraph."))
    text = render(human, fitted)
    assert "incomplete" not in text
    assert "## Owner\n\nWritten by the team.\n\nSecond paragraph.\n" in text
    assert "| accuracy | 0.8000 | 0.8100 ± 0.0200 | higher is better |" in text
    assert "| metric | held-out | cross-validated mean ± std (5 folds on 400 rows) |" in text
    assert "trained from commit `abc123`" in text
    assert "sha256 `" + "ab" * 32 in text
    assert "Kept out of the features: `group`" in text
    assert "| group | rows |" in text
    assert "| 1 | signal |" in text
    assert "| group | category |" not in text, "an excluded column is not listed as a feature"


def test_a_card_with_placeholder_sections_says_so_at_the_top(fitted):
    human = card.HumanSections(**(written("Ours.") | {"purpose": "TODO: say", "owner": "TODO: who"}))
    assert card.placeholders(human) == ["Purpose", "Owner"]
    top = render(human, fitted).split("## Purpose")[0]
    assert "This card is incomplete:** the sections Purpose, Owner are still" in top


def test_the_human_file_is_parsed_strictly(tmp_path):
    path = tmp_path / "model_card.yaml"
    path.write_text("purpose: x\nowner: y\nintended_use: z\nout_of_scope_use: a\nlimitations: b\n")
    with pytest.raises(card.CardError, match="ethical_considerations"):
        card.load_human(path)
    path.write_text(path.read_text() + "ethical_considerations: c\ncolour: blue\n")
    with pytest.raises(card.CardError, match="colour"):
        card.load_human(path)


def test_the_committed_human_file_loads():
    assert card.load_human().purpose


def test_gate_warns_about_placeholders_on_main_only(tmp_path, monkeypatch):
    path = tmp_path / "model_card.yaml"
    path.write_text("\n".join(f"{name}: TODO later" for name in card.TITLES) + "\n")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    assert "placeholder sections (Purpose, Owner" in card.card_warning(path)
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")
    assert card.card_warning(path) is None


def test_the_registry_copy_of_the_card_names_version_and_alias():
    text = f"# card\n{card.REGISTRY_LINE} (registered model `m`)\n"
    assert "- Registry: version 7, alias `@champion` (registered model `m`)" in card.with_registry(
        text, "7", "champion"
    )
