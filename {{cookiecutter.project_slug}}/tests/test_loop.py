"""Closing the loop: where the team's CSV comes from (and the one line when CI cannot get it), and the
one monitoring issue (opened once, then updated; retrain dispatched only on drift or a failed gate)."""

from __future__ import annotations

import json

import pytest

from {{ cookiecutter.package_name }}.monitoring.issue import LABEL, raise_alarm, read_findings
from {{ cookiecutter.package_name }}.sources import Change, Snapshot, missing_message


def test_without_a_pointer_the_message_names_the_three_ways():
    said = missing_message(None, None, in_ci=True, remote_ready=False)
    assert said.startswith("data/raw/data.csv is missing")
    for way in ("commit it to git (up to 10 MB)", "make push", "dvc import-url"):
        assert way in said


@pytest.mark.parametrize(
    ("remote", "in_ci", "ready", "expected"),
    [
        (None, True, False, "this project has no DVC remote"),
        ("../store", True, False, "is a folder CI cannot reach"),
        ("s3://bucket/store", True, False, "CI did not log in to the DVC remote s3://bucket/store"),
        ("s3://bucket/store", True, True, "run `make push` where the file is"),
    ],
)
def test_a_dvc_added_file_that_was_not_pulled_says_what_to_configure(remote, in_ci, ready, expected):
    said = missing_message({"outs": [{"md5": "0" * 32}]}, remote, in_ci=in_ci, remote_ready=ready)
    assert expected in said
    assert "\n" not in said


def test_the_data_change_table_shows_hash_and_rows_before_and_after():
    change = Change("s3://b/data.csv", Snapshot("a" * 32, 1200), Snapshot("b" * 32, 1500))
    table = change.markdown()
    assert change.changed
    assert f"| before | `{'a' * 32}` | 1,200 |" in table
    assert f"| after | `{'b' * 32}` | 1,500 |" in table
    assert "unknown" in Change("u", Snapshot("a" * 32, None), Snapshot("a" * 32, 3)).markdown()


class FakeGh:
    """gh with one repository's open issues in memory; records every call."""

    def __init__(self, open_issue: str = "") -> None:
        self.calls: list[list[str]] = []
        self.open_issue = open_issue

    def __call__(self, args: list[str]) -> str:
        self.calls.append(args)
        if args[:2] == ["issue", "list"]:
            return self.open_issue + "\n"
        if args[:2] == ["issue", "create"]:
            self.open_issue = "7"
            return "https://github.com/acme/demo/issues/7\n"
        return ""


def reports(folder, drift: bool | None, passed: bool | None = None) -> None:
    (folder / "reports").mkdir(exist_ok=True)
    if drift is not None:
        (folder / "reports/drift.json").write_text(json.dumps({"drift": drift, "drifted": ["x"] * drift}))
        (folder / "reports/drift.md").write_text("## Drift\n")
    if passed is not None:
        (folder / "reports/live.json").write_text(json.dumps({"passed": passed}))
        (folder / "reports/live.md").write_text("## Live\n")


def test_drift_opens_the_issue_once_then_updates_it(tmp_path):
    reports(tmp_path, drift=True)
    findings = read_findings("failure", "skipped", tmp_path)
    assert findings.alarm
    gh = FakeGh()
    first = raise_alarm(findings, gh, "https://run/1", tmp_path / "body.md", retrain=True)
    second = raise_alarm(findings, gh, "https://run/2", tmp_path / "body.md", retrain=True)
    created = [call for call in gh.calls if call[:2] == ["issue", "create"]]
    assert len(created) == 1
    assert created[0][created[0].index("--label") + 1] == LABEL
    assert second[0] == "updated issue #7"
    assert ["issue", "edit", "7", "--body-file", str(tmp_path / "body.md")] in gh.calls
    assert gh.calls.count(["workflow", "run", "retrain.yml"]) == 2
    assert first[-1] == second[-1] == "dispatched retrain"
    assert "## Drift" in (tmp_path / "body.md").read_text()


def test_a_failed_live_gate_alone_raises_the_alarm_and_no_verdict_raises_none(tmp_path):
    reports(tmp_path, drift=False, passed=False)
    assert read_findings("success", "failure", tmp_path).headline() == "no drift, live gate FAILED"
    assert read_findings("success", "failure", tmp_path).alarm
    (tmp_path / "reports/drift.json").unlink()
    (tmp_path / "reports/live.json").unlink()
    undecided = read_findings("failure", "skipped", tmp_path)
    assert not undecided.alarm
    assert undecided.notes == (
        "make drift reached no verdict (too few records, or an input it could not use: see its step)",
    )
