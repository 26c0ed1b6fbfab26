"""The prediction record's writer, on a tiny schema built here: what lands in the sink, and when it cannot."""

from __future__ import annotations

import io
import logging
import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.config import MonitorConfig
from {{ cookiecutter.package_name }}.schema import Column, Schema, record_model
from {{ cookiecutter.package_name }}.serving.record import Recorder

SCHEMA = Schema(
    target="label",
    columns=[
        Column(name="size", kind="number", nullable=True),
        Column(name="colour", kind="category", categories=["red", "blue"]),
        Column(name="email", kind="text"),
        Column(name="label", kind="category", categories=["no", "yes"]),
    ],
)
Record = record_model(SCHEMA)


def served(count: int, start: int = 0) -> tuple[list, list]:
    """`count` typed records and the classifier's answers to them."""
    records = [
        Record.model_validate({"size": float(i), "colour": "red" if i % 2 else "blue", "email": f"{i}@x.org"})
        for i in range(start, start + count)
    ]
    answers = [("yes" if i % 3 else "no", {"no": 0.25, "yes": 0.75}) for i in range(start, start + count)]
    return records, answers


def recorder(sink: Path | str, **options) -> Recorder:
    monitor = MonitorConfig(**{key: options.pop(key) for key in ("sample_rate", "exclude") if key in options})
    settings = {"batch_rows": 1000, "flush_s": 3600.0, "max_queued_rows": 10_000} | options
    return Recorder(str(sink), monitor, schema=SCHEMA, version="v7", **settings)


def files(sink: Path) -> list[Path]:
    return sorted(sink.glob("date=*/part-*.parquet"))


def rows_in(sink: Path) -> list[dict]:
    return [row for path in files(sink) for row in pq.read_table(path).to_pylist()]


def until(condition, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)


def test_each_served_record_is_written_with_its_id_answer_version_and_features(tmp_path):
    writer = recorder(tmp_path)
    records, answers = served(3)
    writer.submit("req-1", records, answers)
    writer.close()
    rows = rows_in(tmp_path)
    assert [row["prediction_id"] for row in rows] == ["req-1-0", "req-1-1", "req-1-2"]
    assert {row["request_id"] for row in rows} == {"req-1"}
    assert {row["model_version"] for row in rows} == {"v7"}
    assert [row["size"] for row in rows] == [0.0, 1.0, 2.0]
    assert [row["colour"] for row in rows] == ["blue", "red", "blue"]
    assert [row["prediction"] for row in rows] == ["no", "yes", "yes"]
    assert [(row["probability_no"], row["probability_yes"]) for row in rows] == [(0.25, 0.75)] * 3
    assert all(row["timestamp"].tzinfo is not None for row in rows)
    assert not list(tmp_path.rglob("*.tmp")), "no partial file is left behind"


def test_records_are_written_in_batches_of_batch_rows(tmp_path):
    writer = recorder(tmp_path, batch_rows=10)
    writer.submit("a", *served(6))
    time.sleep(0.2)
    assert files(tmp_path) == [], "fewer rows than a batch wait for more"
    writer.submit("b", *served(6))
    until(lambda: len(files(tmp_path)) == 1)
    assert pq.read_table(files(tmp_path)[0]).num_rows == 12
    writer.close()


def test_a_quiet_service_still_writes_every_flush_interval(tmp_path):
    writer = recorder(tmp_path, flush_s=0.2)
    writer.submit("a", *served(2))
    until(lambda: len(files(tmp_path)) == 1, within=5)
    writer.close()


def test_files_are_partitioned_by_the_utc_date_of_each_request(tmp_path):
    writer = recorder(tmp_path)
    for day in (1, 1, 2):
        writer.clock = lambda day=day: datetime(2030, 1, day, 23, 59, tzinfo=UTC)
        writer.submit(f"day{day}", *served(2))
    writer.close()
    assert sorted(path.parent.name for path in files(tmp_path)) == ["date=2030-01-01", "date=2030-01-02"]
    assert pq.read_table(tmp_path / "date=2030-01-01").num_rows == 4


def test_excluded_columns_are_never_written(tmp_path):
    writer = recorder(tmp_path, exclude=["email"])
    writer.submit("a", *served(2))
    writer.close()
    columns = pq.read_table(files(tmp_path)[0]).column_names
    assert "email" not in columns
    assert {"size", "colour"} <= set(columns)


def test_excluding_a_column_the_schema_lacks_is_refused(tmp_path):
    """A typo in `exclude` would write the very column it meant to keep out."""
    with pytest.raises(ValueError, match="emial"):
        recorder(tmp_path, exclude=["emial"])


def test_sample_rate_writes_about_that_share_and_zero_writes_nothing(tmp_path):
    random.seed(11)
    half = recorder(tmp_path / "half", sample_rate=0.5)
    half.submit("a", *served(1000))
    half.close()
    assert 430 < len(rows_in(tmp_path / "half")) < 570
    none = recorder(tmp_path / "none", sample_rate=0.0)
    none.submit("a", *served(100))
    none.close()
    assert files(tmp_path / "none") == []


class BlockingStore:
    """An object store that holds every write until `release` is set, then takes it."""

    protocol = ("blocking",)

    def __init__(self) -> None:
        self.release = threading.Event()
        self.objects: dict[str, bytes] = {}

    def open(self, path: str, mode: str):
        self.release.wait(10)
        store = self

        class Upload(io.BytesIO):
            def close(self) -> None:
                store.objects[path] = self.getvalue()
                super().close()

        return Upload()


def test_a_slow_sink_makes_records_dropped_and_counted_never_a_caller_wait(tmp_path):
    writer = recorder(tmp_path, batch_rows=10, max_queued_rows=20)
    writer.fs, writer.local = BlockingStore(), False
    writer.submit("first", *served(10))  # taken by the writer, which then blocks on the store
    until(lambda: writer.queued_rows == 0)
    began = time.perf_counter()
    writer.submit("queued", *served(8))
    writer.submit("queued-too", *served(8))
    writer.submit("one too many", *served(8))  # 24 > 20 queued: dropped whole
    assert time.perf_counter() - began < 0.05, "submitting never waits on the sink"
    assert writer.dropped == 8
    writer.fs.release.set()
    writer.close()
    assert writer.written == 26
    assert len(writer.fs.objects) == 2


class FailingStore:
    protocol = ("failing",)

    def open(self, path: str, mode: str):
        raise OSError("the bucket is unreachable")


def test_a_failing_sink_counts_drops_and_logs_one_line_per_failure_window(tmp_path, caplog):
    writer = recorder(tmp_path, batch_rows=5)
    writer.fs, writer.local = FailingStore(), False
    with caplog.at_level(logging.WARNING, logger="{{ cookiecutter.package_name }}.serving.record"):
        for batch in range(4):
            writer.submit(f"r{batch}", *served(5))
            until(lambda batch=batch: writer.dropped == 5 * (batch + 1))
        failures = [r for r in caplog.records if "cannot write" in r.getMessage()]
        assert len(failures) == 1, [r.getMessage() for r in caplog.records]
        writer.fs, writer.local = recorder(tmp_path / "unused").fs, True  # the sink is back
        for batch in range(2):
            writer.submit(f"ok{batch}", *served(5))
            until(lambda batch=batch: writer.written == 5 * (batch + 1))
        writer.close()
    assert writer.dropped == 20
    assert len(rows_in(tmp_path)) == 10
    assert sum("again" in r.getMessage() for r in caplog.records) == 1


def test_close_writes_what_is_still_queued_and_later_records_are_dropped(tmp_path):
    writer = recorder(tmp_path)
    writer.submit("a", *served(7))
    writer.close()
    assert len(rows_in(tmp_path)) == 7
    writer.submit("late", *served(2))
    assert writer.dropped == 2
