"""The model metrics: what a model call and a refused request add to /metrics, read from the exposition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import TypeAdapter, ValidationError

from {{ cookiecutter.package_name }}.monitoring.profile import build_profile, numeric_reference
from {{ cookiecutter.package_name }}.schema import Column, Schema, record_model
from {{ cookiecutter.package_name }}.serving.instruments import Instruments
from {{ cookiecutter.package_name }}.serving.tallies import Buckets

SCHEMA = Schema(
    target="label",
    columns=[
        Column(name="size", kind="number", nullable=True, minimum=0, maximum=100),
        Column(name="colour", kind="category", nullable=True, categories=["blue", "red"]),
        Column(name="label", kind="integer"),
    ],
)
TRAIN = pd.DataFrame({"size": [float(v) for v in range(1, 11)], "colour": ["red"] * 7 + ["blue"] * 3})
Record = record_model(SCHEMA)


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition, keyed by name and labels: what Prometheus would scrape."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def instruments(classes: list[str], predictions: pd.Series) -> tuple[Instruments, CollectorRegistry]:
    registry = CollectorRegistry()
    about = {"run_id": "abc", "git_commit": "def"}
    profile = build_profile(SCHEMA, TRAIN, predictions, bool(classes), about)
    return Instruments(SCHEMA, profile, classes, "1.2.3", registry=registry), registry


def records(*rows: dict) -> list:
    return [Record.model_validate(row) for row in rows]


def test_deciles_are_the_bucket_edges_and_the_reference_is_the_share_at_or_below_each():
    reference = numeric_reference(pd.Series([float(v) for v in range(1, 11)]))
    assert reference["edges"] == pytest.approx([1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1])
    assert reference["cdf"] == pytest.approx([0.1 * k for k in range(1, 10)])
    # Ties merge edges: a column that is mostly zero has fewer buckets, and its reference says so.
    tied = numeric_reference(pd.Series([0.0] * 8 + [5.0, 9.0]))
    assert tied["edges"] == pytest.approx([0.0, 1.0, 5.4])
    assert tied["cdf"] == pytest.approx([0.8, 0.8, 0.9])


def test_a_model_call_counts_buckets_missing_values_categories_classes_and_its_size():
    metrics, registry = instruments(["no", "yes"], pd.Series(["no", "yes", "yes", "yes"]))
    batch = records(
        {"size": 1.0, "colour": "red"},
        {"size": 5.5, "colour": "red"},
        {"size": 50.0, "colour": None},
        {"size": None, "colour": "blue"},
    )
    metrics.observe(batch, [("yes", {}), ("no", {}), ("yes", {}), ("yes", {})])
    before = samples(registry)
    assert before[("model_feature_value_count", frozenset({("feature", "size")}))] == 0  # not yet flushed
    metrics.flush()
    after = samples(registry)

    def value(name: str, **labels: str) -> float:
        return after[(name, frozenset(labels.items()))]

    assert value("model_feature_value_bucket", feature="size", le="1.9") == 1  # 1.0
    assert value("model_feature_value_bucket", feature="size", le="5.5") == 2  # 1.0 and 5.5 (le: at or below)
    assert value("model_feature_value_bucket", feature="size", le="9.1") == 2
    assert value("model_feature_value_bucket", feature="size", le="+Inf") == 3  # 50.0; the null is apart
    assert value("model_feature_value_sum", feature="size") == pytest.approx(56.5)
    assert value("model_missing_values_total", feature="size") == 1
    assert value("model_missing_values_total", feature="colour") == 1
    assert value("model_category_total", feature="colour", category="red") == 2
    assert value("model_category_total", feature="colour", category="blue") == 1
    assert value("model_category_total", feature="colour", category="other") == 0
    assert value("model_predictions_total", **{"class": "yes"}) == 3
    assert value("model_predictions_total", **{"class": "no"}) == 1
    assert value("model_batch_records_bucket", le="4.0") == 1
    assert value("model_batch_records_bucket", le="2.0") == 0
    assert value("model_info", version="1.2.3", run_id="abc", git_commit="def") == 1
    # The references the alerts compare with, on the same `le` labels as the live buckets.
    assert value("model_feature_reference_cdf", feature="size", le="5.5") == pytest.approx(0.5)
    assert value("model_feature_reference_cdf", feature="size", le="+Inf") == 1
    assert value("model_category_reference_share", feature="colour", category="red") == pytest.approx(0.7)
    assert value("model_prediction_reference_share", **{"class": "yes"}) == pytest.approx(0.75)
    metrics.flush()  # nothing new: nothing counted twice
    assert samples(registry) == after


def test_a_model_calls_own_arrays_count_as_its_records_and_answers_do():
    """When the answers carry the call's arrays (predict.Answers: the numeric features in schema order,
    the class probabilities), observe counts from them, and the exposition is the one the records and
    answers alone give."""
    given = [{"size": 1.0, "colour": "red"}, {"size": None, "colour": None}, {"size": 50.0}]
    answers = [
        ("yes", {"no": 0.2, "yes": 0.8}),
        ("no", {"no": 0.9, "yes": 0.1}),
        ("yes", {"no": 0.4, "yes": 0.6}),
    ]

    def carrying(sizes: list[float]) -> list:
        carried = type("Carried", (list,), {})(answers)
        carried.numeric = np.array([[size] for size in sizes])
        carried.proba = np.array([list(probabilities.values()) for _, probabilities in answers])
        return carried

    numeric_only = Schema(target="label", columns=[SCHEMA.columns[0], SCHEMA.columns[2]])
    for schema in (SCHEMA, numeric_only):  # without a categorical column the records are never read
        names, typed = {column.name for column in schema.features}, record_model(schema)
        batch = [typed.model_validate({k: v for k, v in row.items() if k in names}) for row in given]
        exposition = []
        for rows in (answers, carrying([1.0, np.nan, 50.0]), carrying([1.0, np.nan, 99.0])):
            registry = CollectorRegistry()
            profile = build_profile(schema, TRAIN, pd.Series(["no", "yes", "yes", "yes"]), True, {})
            metrics = Instruments(schema, profile, ["no", "yes"], "1.2.3", registry=registry)
            metrics.observe(batch, rows)
            metrics.flush()
            exposed = samples(registry).items()
            exposition.append({key: value for key, value in exposed if not key[0].endswith("_created")})
        assert exposition[1] == exposition[0]
        size_sum = ("model_feature_value_sum", frozenset({("feature", "size")}))
        assert exposition[2][size_sum] == 100.0  # the numbers were taken from the arrays
        assert exposition[1][("model_predictions_total", frozenset({("class", "yes")}))] == 2
        assert exposition[1][("model_batch_records_sum", frozenset())] == 3


def test_histograms_of_several_columns_count_each_value_in_the_first_bucket_at_or_above_it():
    """Columns with different numbers of edges (the shorter ones padded with +Inf), values on the edges,
    NaN as missing: the bulk count equals one bisect per value."""
    import bisect

    rng = np.random.default_rng(7)
    edges = [[-1.0, 0.0, 1.0], [0.5], [], [-2.0, -1.0, 0.0, 1.0, 2.0]]
    buckets = Buckets([None] * len(edges), edges)
    expected, sums = np.zeros(buckets.shape, dtype=np.int64), np.zeros(len(edges))
    for rows in (1, 7, 250):
        values = rng.normal(size=(rows, len(edges))).round(1)
        values[rng.random(values.shape) < 0.1] = np.nan
        values[0, 0], values[-1, 3] = 1.0, -2.0  # exactly on an edge: at or below it (`le`)
        buckets.add(values)
        for row in values:
            for column, value in enumerate(row):
                bucket = buckets.width if np.isnan(value) else bisect.bisect_left(edges[column], value)
                expected[column, bucket] += 1
                sums[column] += 0.0 if np.isnan(value) else value
    assert (buckets.counts == expected).all()
    assert np.allclose(buckets.sums, sums)


def test_regression_predictions_fill_a_histogram_over_the_held_out_deciles():
    metrics, registry = instruments([], pd.Series([float(v) for v in range(10, 110, 10)]))
    batch = records({"size": 2.0, "colour": "red"}, {"size": 3.0, "colour": "red"})
    metrics.observe(batch, [(12.0, None), (500.0, None)])
    metrics.flush()
    after = samples(registry)
    assert after[("model_prediction_value_bucket", frozenset({("le", "19.0")}))] == 1
    assert after[("model_prediction_value_bucket", frozenset({("le", "+Inf")}))] == 2
    assert after[("model_prediction_reference_cdf", frozenset({("le", "19.0")}))] == pytest.approx(0.1)


def test_refusals_are_counted_by_schema_rule_and_column_and_a_clients_column_name_is_not_a_label():
    metrics, registry = instruments(["no", "yes"], pd.Series(["no", "yes"]))
    body = [{"size": -1.0, "colour": "green", "secret_field_name": 1}, {"size": "big"}]
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(list[Record]).validate_python(body)
    metrics.refused(refused.value)
    after = samples(registry)

    def refusals(reason: str, column: str) -> float:
        return after.get(
            ("model_refused_records_total", frozenset({("reason", reason), ("column", column)})), 0
        )

    assert refusals("out_of_range", "size") == 1
    assert refusals("unknown_category", "colour") == 1
    assert refusals("unknown_column", "(unknown)") == 1
    assert refusals("not_a_number", "size") == 1
    assert not [key for key in after if "secret_field_name" in str(key)]
