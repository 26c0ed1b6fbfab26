"""`make drift` on trained bakes: the measured targets of the drift check (false alarms, detection, speed),
on the demo data and on a 50,000-row CSV, and its answers to bad input (one line, the right exit code, no
report). The records are written by the project's own Predictor and Recorder (tests/monitoring/experiments.py
runs inside the project's environment)."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

from harness.bakes import bake, exit_code, experiment, make, one_line_error
from harness.tools import Result, check, run, uv_available

pytestmark = [
    pytest.mark.lifecycle,
    pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project"),
]

CSV_ROWS = 50_000  # 10,000 held-out rows: 20 disjoint windows of 500
WIDE = {"project_name": "Drift Lab", "dataset": "csv", "target_column": "label", "model": "linear"}


@pytest.fixture(scope="module")
def trained_demo(trained_bake) -> Path:
    return trained_bake("default")


@pytest.fixture
def demo(trained_demo, shared_env) -> Path:
    """The trained default bake, with the shared environment pointed at it again: the two bakes of this
    module share one environment, `make setup` points it at one of them, and a test runs its bake's code."""
    check(make(trained_demo, "setup", env=shared_env))
    return trained_demo


def test_serving_every_raw_row_is_no_drift_and_a_one_sd_shift_is_drift_naming_it(demo, shared_env, tmp_path):
    experiment(demo, shared_env, "record", "my_ml_project", str(tmp_path / "clean"), "raw", "569")
    clean = make(demo, "drift", f"RECORD={tmp_path / 'clean'}", env=shared_env)
    assert clean.returncode == 0, str(clean)
    report = json.loads((demo / "reports/drift.json").read_text())
    assert (report["drift"], report["rows"]["window"]) == (False, 569)
    assert len(report["columns"]) == 31  # 30 features and the prediction
    assert "## Data drift: no drift" in (demo / "reports/drift.md").read_text()

    shifted = tmp_path / "shifted"
    experiment(demo, shared_env, "record", "my_ml_project", str(shifted), "raw", "569", "mean_texture", "1")
    drift = make(demo, "drift", f"RECORD={shifted}", "WINDOW=24h", env=shared_env)
    assert exit_code(drift) == 1, str(drift)
    report = json.loads((demo / "reports/drift.json").read_text())
    assert report["drift"] is True
    assert "mean_texture" in report["drifted"]
    assert report["columns"]["mean_texture"]["drifted"] is True
    assert "| mean_texture | numeric | ks |" in (demo / "reports/drift.md").read_text()


def test_bad_input_ends_with_one_line_the_right_exit_code_and_no_report(demo, shared_env, tmp_path):
    reports = (demo / "reports/drift.json", demo / "reports/drift.md")
    experiment(demo, shared_env, "record", "my_ml_project", str(tmp_path / "few"), "held_out", "50")

    def drift(*variables: str) -> Result:
        (demo / "reports").mkdir(exist_ok=True)
        for path in reports:  # a report of an earlier run must not survive a failed one
            path.write_text("stale")
        result = make(demo, "drift", *variables, env=shared_env)
        assert not any(path.exists() for path in reports), str(result)
        return result

    one_line_error(drift(f"RECORD={tmp_path / 'nothing'}"), 2, "no prediction record at")
    one_line_error(drift(f"RECORD={tmp_path / 'few'}"), 2, "50 records in the last 7d")
    one_line_error(drift(f"RECORD={tmp_path / 'few'}", "WINDOW=fortnight"), 3, "WINDOW='fortnight'")

    old = tmp_path / "old" / "date=2020-01-01"
    old.mkdir(parents=True)
    for part in (tmp_path / "few").glob("date=*/*.parquet"):
        part.rename(old / part.name)
    one_line_error(drift(f"RECORD={tmp_path / 'old'}"), 2, "no records in the last 7d")

    unknown = tmp_path / "unknown" / "date=2030-01-01"
    unknown.mkdir(parents=True)
    code = (
        "import pyarrow as pa, pyarrow.parquet as pq, sys; pq.write_table(pa.table("
        "{'prediction_id': ['a'], 'shoe_size': [42.0], 'prediction': [1]}), sys.argv[1])"
    )
    part = str(unknown / "part-1.parquet")
    check(run(["uv", "run", "--no-sync", "python", "-c", code, part], demo, shared_env))
    one_line_error(drift(f"RECORD={tmp_path / 'unknown'}", "WINDOW=all"), 3, "shoe_size")


@pytest.fixture(scope="module")
def trained_wide(tmp_path_factory, shared_env, timings) -> Path:
    """A csv bake of 50,000 rows (29 numbers and a category of four levels), trained (linear model)."""
    project = bake(tmp_path_factory.mktemp("drift-lab"), **WIDE)
    check(make(project, "setup", env=shared_env))
    experiment(project, shared_env, "data", "data/raw/data.csv", str(CSV_ROWS))
    train = make(project, "train", env=shared_env)
    check(train)
    timings["train_50k"] = round(train.seconds, 1)
    return project


@pytest.fixture
def wide(trained_wide, shared_env) -> Path:
    """The trained 50,000-row bake, with the shared environment pointed at it again (see `demo`)."""
    check(make(trained_wide, "setup", env=shared_env))
    return trained_wide


def test_twenty_clean_windows_give_at_most_one_false_alarm_and_shifts_are_found_and_named(
    wide, shared_env, timings
):
    """20 disjoint held-out windows of 500 rows: <= 1 drift verdict; +0.5 sd on one number, and +20 points
    of one category's share, each found naming that column in >= 19 of 20."""
    outcome = experiment(wide, shared_env, "windows", "drift_lab", "20", "500")
    timings["windows"] = {key: outcome[key] for key in ("false_alarms", "numeric_found", "category_found")}
    assert outcome["false_alarms"] <= 1, outcome["windows"]["clean"]
    assert outcome["numeric_found"] >= 19, outcome["windows"]["numeric"]
    assert outcome["category_found"] >= 19, outcome["windows"]["category"]


def timed(project: Path, env: dict[str, str], timings: dict, name: str, *variables: str) -> Result:
    """`make <name>` with its wall and CPU seconds (every child process), measured twice at most: the
    machine is shared, and a second run must meet the target on its own (runs are never mixed)."""
    for attempt in (1, 2):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = make(project, name, *variables, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert result.returncode == 0, str(result)
        result.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result.busy = os.getloadavg()[0] > (os.cpu_count() or 1)
        measured = {"seconds": round(result.seconds, 2), "cpu_seconds": round(result.cpu, 2),
                    "load": os.getloadavg()}  # fmt: skip
        timings[f"{name}_100k_attempt{attempt}"] = measured
        if result.seconds < 10:
            break
    return result


def within_target(result: Result, timings: dict) -> None:
    """Under 10 s of CPU always; under 10 s of wall time too, unless other work held every core (a load
    average above the core count stretches wall time by that factor, and says nothing of this code)."""
    assert result.cpu < 10, timings
    assert result.busy or result.seconds < 10, timings


@pytest.fixture(scope="module")
def record_100k(trained_wide, shared_env, tmp_path_factory) -> Path:
    """100,000 held-out rows (drawn with replacement) served through the project's Predictor and Recorder,
    and their labels beside the record."""
    record = tmp_path_factory.mktemp("record-100k") / "record"
    check(make(trained_wide, "setup", env=shared_env))  # see `demo`
    written = experiment(trained_wide, shared_env, "record", "drift_lab", str(record), "held_out", "100000")
    assert written == {"written": 100_000, "dropped": 0}
    return record


def test_drift_on_a_record_of_100000_rows_and_30_features_takes_under_10_s(
    wide, record_100k, shared_env, timings
):
    result = timed(wide, shared_env, timings, "drift", f"RECORD={record_100k}")
    report = json.loads((wide / "reports/drift.json").read_text())
    assert report["rows"]["window"] == 100_000
    assert len(report["columns"]) == 31
    within_target(result, timings)


def test_feedback_on_100000_labelled_rows_takes_under_10_s(wide, record_100k, shared_env, timings):
    labels = f"LABELS={record_100k}.labels.csv"
    result = timed(wide, shared_env, timings, "feedback", labels, f"RECORD={record_100k}")
    report = json.loads((wide / "reports/live.json").read_text())
    assert report["rows"] == {"labels": 100_000, "duplicates": 0, "matched": 100_000, "unmatched": 0,
                              "other_version": 0}  # fmt: skip
    assert report["passed"] is True
    within_target(result, timings)


@pytest.fixture(scope="module")
def served(trained_demo, shared_env, tmp_path_factory) -> Path:
    """300 held-out rows of the demo served into a record; their labels beside it (<record>.labels.csv)."""
    record = tmp_path_factory.mktemp("served") / "record"
    check(make(trained_demo, "setup", env=shared_env))  # see `demo`
    experiment(trained_demo, shared_env, "record", "my_ml_project", str(record), "held_out", "300")
    return record


def test_feedback_scores_the_labelled_records_and_gates_them(demo, served, shared_env, tmp_path):
    """Labels joined by id: the live metrics pass the gate; the same ids labelled with the other class fail
    it; ids not in the record are counted as unmatched, not guessed."""
    labels = (tmp_path / "labels.csv", tmp_path / "flipped.csv")
    rows = Path(f"{served}.labels.csv").read_text().splitlines()
    labels[0].write_text("\n".join([*rows, "nobody-0,1", "nobody-1,0"]) + "\n")
    flipped = [rows[0]] + [f"{line.split(',')[0]},{1 - int(line.split(',')[1])}" for line in rows[1:]]
    labels[1].write_text("\n".join(flipped) + "\n")

    passed = make(demo, "feedback", f"LABELS={labels[0]}", f"RECORD={served}", env=shared_env)
    assert passed.returncode == 0, str(passed)
    report = json.loads((demo / "reports/live.json").read_text())
    expected = {"labels": 302, "duplicates": 0, "matched": 300, "unmatched": 2, "other_version": 0}
    assert report["rows"] == expected
    assert report["model_version"] == "v-test"
    assert report["metrics"]["accuracy"] >= 0.9
    assert report["passed"] is True
    assert "## Live metrics: PASS" in (demo / "reports/live.md").read_text()

    failed = make(demo, "feedback", f"LABELS={labels[1]}", f"RECORD={served}", env=shared_env)
    assert exit_code(failed) == 1, str(failed)
    report = json.loads((demo / "reports/live.json").read_text())
    assert report["passed"] is False
    assert report["metrics"]["accuracy"] < 0.1
    assert "the live gate FAILED: accuracy" in failed.output


def test_feedback_refuses_bad_labels_with_one_line_and_no_report(demo, served, shared_env, tmp_path):
    reports = (demo / "reports/live.json", demo / "reports/live.md")
    good = Path(f"{served}.labels.csv")
    (tmp_path / "columns.csv").write_text("id,label\nreq0-0,1\n")
    (tmp_path / "empty.csv").write_text("prediction_id,target\n")
    few = good.read_text().splitlines()[:11]
    (tmp_path / "few.csv").write_text("\n".join(few) + "\n")

    def feedback(labels: str | None, env: dict[str, str] | None = None) -> Result:
        (demo / "reports").mkdir(exist_ok=True)
        for path in reports:
            path.write_text("stale")
        variables = [f"RECORD={served}"] + ([f"LABELS={labels}"] if labels else [])
        result = make(demo, "feedback", *variables, env=shared_env | (env or {}))
        assert not any(path.exists() for path in reports), str(result)
        return result

    one_line_error(feedback(None), 3, "give LABELS=")
    one_line_error(feedback(str(tmp_path / "missing.csv")), 3, "no such file")
    one_line_error(feedback(str(tmp_path / "columns.csv")), 3, "lacks prediction_id, target")
    one_line_error(feedback(str(tmp_path / "empty.csv")), 3, "has no rows")
    one_line_error(feedback(str(good), {"MODEL_VERSION": "v-next"}), 3, "served by model version v-test")
    one_line_error(feedback(str(tmp_path / "few.csv")), 2, "10 labelled records of model version v-test")


def test_ingest_feedback_appends_validated_labelled_records_as_a_new_data_version(
    wide, record_100k, shared_env, tmp_path
):
    """500 labelled records join data/raw/data.csv once (a second run adds nothing), tracked by a new
    data/raw/data.csv.dvc; labels the schema refuses leave the data untouched."""
    raw, tracked = wide / "data/raw/data.csv", wide / "data/raw/data.csv.dvc"
    lines = Path(f"{record_100k}.labels.csv").read_text().splitlines()
    (tmp_path / "labels.csv").write_text("\n".join(lines[:501]) + "\n")
    (tmp_path / "maybe.csv").write_text(f"{lines[0]}\n{lines[600].split(',')[0]},maybe\n")
    before = raw.read_bytes()
    variables = (f"LABELS={tmp_path / 'labels.csv'}", f"RECORD={record_100k}")

    result = make(wide, "ingest-feedback", *variables, env=shared_env)
    check(result)
    assert (
        f"500 labelled records appended to data/raw/data.csv: {CSV_ROWS} -> {CSV_ROWS + 500} rows"
        in result.output
    )
    assert raw.read_bytes().startswith(before)
    assert len(raw.read_text().splitlines()) == CSV_ROWS + 501
    assert "md5:" in tracked.read_text()
    assert len((wide / "data/raw/ingested-ids.txt").read_text().split()) == 500
    version = tracked.read_text()

    again = make(wide, "ingest-feedback", *variables, env=shared_env)
    check(again)
    assert "already in data/raw/data.csv; nothing to add" in again.output
    assert tracked.read_text() == version

    refused = make(
        wide, "ingest-feedback", f"LABELS={tmp_path / 'maybe.csv'}", f"RECORD={record_100k}", env=shared_env
    )
    one_line_error(refused, 3, "break data/schema.json")
    assert tracked.read_text() == version
    assert len(raw.read_text().splitlines()) == CSV_ROWS + 501


def test_ingest_feedback_refuses_the_demo_data(demo, served, shared_env):
    labels = f"LABELS={served}.labels.csv"
    one_line_error(
        make(demo, "ingest-feedback", labels, f"RECORD={served}", env=shared_env), 3, "data.source is demo"
    )
