"""The drift tests and the record window, on small frames built here: shifts are found, like data is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.config import DriftConfig
from {{ cookiecutter.package_name }}.monitoring import records
from {{ cookiecutter.package_name }}.monitoring.drift import adjust, categorical_test, compare, markdown, numeric_test
from {{ cookiecutter.package_name }}.monitoring.records import EmptyWindowError, InputError, parse_window, read_window
from {{ cookiecutter.package_name }}.schema import Column, Schema
from {{ cookiecutter.package_name }}.serving.settings import ServingSettings

SCHEMA = Schema(
    target="label",
    columns=[
        Column(name="size", kind="number", nullable=True),
        Column(name="colour", kind="category", categories=["red", "blue", "green"]),
        Column(name="note", kind="text"),
        Column(name="label", kind="category", categories=["no", "yes"]),
    ],
)


def frame(rows: int, seed: int, shift: float = 0.0, green: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colours = rng.choice(["red", "blue", "green"], size=rows, p=[0.6 - green / 2, 0.4 - green / 2, green])
    return pd.DataFrame(
        {
            "size": rng.normal(shift, 1.0, rows),
            "colour": colours,
            "note": "x",
            "prediction": rng.integers(0, 2, rows),
        }
    )


def test_the_default_record_location_is_the_services():
    setting = ServingSettings.model_fields["prediction_record"]
    assert (setting.alias, setting.default) == (records.SETTING, records.DEFAULT_SINK)


def test_a_shifted_number_is_found_and_a_like_sample_is_not():
    reference = frame(5000, 1)["size"]
    assert numeric_test("size", reference, frame(500, 2)["size"]).p_value > 0.01
    shifted = numeric_test("size", reference, frame(500, 3, shift=0.5)["size"])
    assert shifted.p_value < 1e-6
    assert 0.15 < shifted.distance < 0.25  # the KS distance of a 0.5 sd shift of a normal is about 0.2


def test_a_growing_category_is_found_with_its_share_as_the_distance():
    reference = frame(5000, 1)["colour"]
    grown = categorical_test("colour", reference, frame(500, 2, green=0.3)["colour"])
    assert grown.p_value < 1e-6
    assert grown.distance == pytest.approx(0.2, abs=0.05)
    assert categorical_test("colour", reference, frame(500, 4)["colour"]).p_value > 0.01


def test_a_new_category_and_missing_values_count_as_cells_of_their_own():
    reference = pd.Series(["red"] * 300 + ["blue"] * 300)
    window = pd.Series(["red"] * 100 + ["purple"] * 100 + [None] * 100)
    result = categorical_test("colour", reference, window)
    assert result.p_value < 1e-6
    assert result.distance == pytest.approx(2 / 3)  # red 1/2 -> 1/3, blue 1/2 -> 0, purple and missing 1/3


def test_a_window_with_no_values_of_a_column_has_drifted():
    result = numeric_test("size", pd.Series([1.0, 2.0]), pd.Series([np.nan, np.nan]))
    assert (result.p_value, result.distance, result.note) == (0.0, 1.0, "no values in the window")


def test_corrections_never_lower_a_p_value_and_bonferroni_multiplies():
    assert adjust([0.01, 0.02, 0.5], "bonferroni") == pytest.approx([0.03, 0.06, 1.0])
    corrected = adjust([0.01, 0.02, 0.5], "benjamini-hochberg")
    assert corrected == pytest.approx([0.03, 0.03, 0.5])


def test_compare_judges_each_column_and_a_tiny_shift_is_not_drift_however_significant():
    config = DriftConfig(min_distance=0.05)
    reference, predictions = frame(20000, 1), frame(2000, 5)["prediction"]
    clean = compare(SCHEMA, reference, frame(500, 2), predictions, True, config)
    assert clean.drifted == []
    assert clean.untested == ["note"]
    drifted = compare(SCHEMA, reference, frame(500, 3, shift=0.6, green=0.35), predictions, True, config)
    assert set(drifted.drifted) == {"size", "colour"}
    tiny = compare(SCHEMA, reference, frame(200000, 6, shift=0.03), predictions, True, config)
    size = next(result for result in tiny.columns if result.column == "size")
    assert size.p_adjusted < config.alpha
    assert size.distance < 0.05
    assert not size.drifted
    payload = drifted.to_dict(config, {"window": "7d", "record": "records"})
    assert payload["drift"] is True
    assert payload["rows"]["window"] == 500
    text = markdown(payload)
    assert text.startswith("## Data drift: DRIFT")
    assert "| size | numeric | ks |" in text


@pytest.mark.parametrize(("text", "expected"), [("7d", timedelta(days=7)), ("24h", timedelta(hours=24)),
                                                ("2w", timedelta(weeks=2)), ("all", None)])  # fmt: skip
def test_windows_are_hours_days_weeks_or_all(text, expected):
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "7", "0d", "7 days", "-1d"])
def test_a_window_of_another_shape_is_refused(text):
    with pytest.raises(InputError, match="WINDOW"):
        parse_window(text)


def write(sink, day: str, table: pa.Table) -> None:
    (sink / f"date={day}").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, sink / f"date={day}" / "part-1.parquet")


def test_a_window_reads_only_the_records_of_its_time(tmp_path):
    now = datetime(2030, 5, 10, 12, tzinfo=UTC)
    for days_ago in (0, 3, 10):
        at = now - timedelta(days=days_ago)
        stamps = pa.array([at] * 2, pa.timestamp("us", tz="UTC"))
        write(
            tmp_path, at.strftime("%Y-%m-%d"), pa.table({"timestamp": stamps, "size": [float(days_ago)] * 2})
        )
    assert sorted(read_window(str(tmp_path), timedelta(days=7), now=now)["size"]) == [0, 0, 3, 3]
    assert len(read_window(str(tmp_path), None, now=now)) == 6
    with pytest.raises(EmptyWindowError, match="no records in the last 1d"):
        read_window(str(tmp_path), timedelta(days=1), now=now + timedelta(days=2))
    with pytest.raises(EmptyWindowError, match="no prediction record at"):
        read_window(str(tmp_path / "elsewhere"), None)
