"""Schema inference and validation: good frames pass; each broken rule is reported with its column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.schema import SchemaError, as_text, infer_schema, record_model, validate_frame


def test_inference_records_kinds_missing_values_and_levels(tiny_frame):
    schema = infer_schema(tiny_frame, target="label")
    size, colour, count = (schema.column(name) for name in ("size", "colour", "count"))
    assert (size.kind, size.nullable) == ("number", True)
    assert (colour.kind, colour.categories, colour.nullable) == ("category", ["blue", "red"], True)
    assert (count.kind, count.nullable) == ("integer", False)
    assert count.minimum == 0.0, "a column never seen below zero stays non-negative"
    assert [column.name for column in schema.features] == ["size", "colour", "count"]


def test_a_frame_matching_its_schema_passes(tiny_frame):
    validate_frame(tiny_frame, infer_schema(tiny_frame, target="label"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.rename(columns={"size": "width"}), "'size' is missing"),
        (lambda f: f.assign(extra=1), "'extra' is not in the schema"),
        (
            lambda f: f.assign(count=f["count"].astype(object).where(f.index != 2, "three")),
            "'count': 1 values are not numbers",
        ),
        (
            lambda f: f.assign(count=f["count"].astype(float).where(f.index != 1, np.nan)),
            "'count': 1 missing values",
        ),
        (lambda f: f.assign(size=f["size"] * 100), "'size': .* outside the range"),
        (lambda f: f.assign(colour=f["colour"].replace("red", "green")), "'colour': values \\['green'\\]"),
        (lambda f: f.assign(size=f["size"].replace(1.0, np.inf)), "'size': infinite"),
    ],
)
def test_a_broken_rule_is_named_with_its_column(tiny_frame, change, message):
    schema = infer_schema(tiny_frame, target="label")
    with pytest.raises(SchemaError, match=message):
        validate_frame(change(tiny_frame), schema)


def test_missing_target_cannot_be_inferred(tiny_frame):
    with pytest.raises(SchemaError, match="'label_typo' \\(the target\\) is missing"):
        infer_schema(tiny_frame, target="label_typo")


def test_request_record_model_enforces_the_same_schema(tiny_frame):
    record_type = record_model(infer_schema(tiny_frame, target="label"))
    good = record_type.model_validate({"size": 3.0, "colour": "red", "count": 2})
    assert good.model_dump(by_alias=True) == {"size": 3.0, "colour": "red", "count": 2}
    assert record_type.model_validate({"colour": None, "count": 1}).model_dump(by_alias=True)["size"] is None
    for bad in (
        {"size": 3.0, "colour": "red"},  # count is required: it never had missing values
        {"size": 3.0, "colour": "green", "count": 2},
        {"size": float("nan"), "colour": "red", "count": 2},
        {"size": 3.0, "colour": "red", "count": 2, "label": 1},
        {"size": "big", "colour": "red", "count": 2},
    ):
        with pytest.raises(ValidationError):
            record_type.model_validate(bad)


@pytest.mark.parametrize("dtype", ["string", "str", "object"])
def test_text_columns_become_shared_python_strings_with_nan_for_missing(dtype):
    rows = ["b", None, "a", "b", "b", "a"] * 1000
    values = pd.Series(rows, dtype=dtype, name="colour", index=range(9, 6009))
    text = as_text(values)
    assert text.dtype == object
    assert text.name == "colour"
    assert text.index.equals(values.index)
    assert text.iloc[:6].tolist()[::2] == ["b", "a", "b"]
    missing = text[values.isna()]
    assert len(missing) == 1000
    assert all(isinstance(value, float) and np.isnan(value) for value in missing), "NaN, never None or pd.NA"
    assert {type(value) for value in text.dropna()} == {str}
    if dtype != "object":  # pandas' string dtypes: one Python string per distinct value, not one per row
        assert len({id(value) for value in text.dropna()}) == 2
