"""The one monitoring issue: read the verdicts of `make drift` and `make feedback`, and on drift or a failed
live gate open the issue labelled `monitoring` (or update the open one: never one per day), with both
reports, and dispatch the `retrain` workflow. GitHub is reached through the gh CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LABEL = "monitoring"
TITLE = "Monitoring: the model's traffic drifted or its live metrics failed the gate"
DRIFT = Path("reports/drift.json"), Path("reports/drift.md")
LIVE = Path("reports/live.json"), Path("reports/live.md")
RETRAIN = Path(".github/workflows/retrain.yml")

Gh = Callable[[list[str]], str]


class MonitorError(RuntimeError):
    """The reports needed for a decision are missing or unreadable."""


@dataclass(frozen=True)
class Findings:
    drifted: bool | None  # None: make drift reached no verdict (too few records, or an unusable input)
    live_failed: bool | None  # None: no labels configured, or make feedback reached no verdict
    reports: str  # the Markdown of both reports, for the issue body
    notes: tuple[str, ...] = ()  # checks that reached no verdict, one line each

    @property
    def alarm(self) -> bool:
        return bool(self.drifted) or bool(self.live_failed)

    def headline(self) -> str:
        drift = {True: "drift found", False: "no drift", None: "no drift verdict"}[self.drifted]
        live = {True: ", live gate FAILED", False: ", live gate passed", None: ""}[self.live_failed]
        return drift + live


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MonitorError(f"cannot read {path} ({error.__class__.__name__})") from None


def drifted(report: dict) -> bool:
    """`make drift`'s overall verdict."""
    return bool(report["drift"])


def live_failed(report: dict) -> bool:
    """`make feedback`'s gate verdict on the live metrics."""
    return not bool(report["passed"])


def read_findings(drift_outcome: str, feedback_outcome: str, folder: Path = Path()) -> Findings:
    """The verdicts in reports/. The checks write their JSON only when they decide; a step that failed
    without one could not decide (too few records, or an input it could not use: its log says which)."""
    notes = []
    verdicts = []
    for (json_path, _), outcome, verdict, name in (
        (DRIFT, drift_outcome, drifted, "make drift"),
        (LIVE, feedback_outcome, live_failed, "make feedback"),
    ):
        path = folder / json_path
        if path.exists():
            verdicts.append(verdict(_load(path)))
            continue
        verdicts.append(None)
        if outcome not in ("skipped", ""):
            notes.append(
                f"{name} reached no verdict (too few records, or an input it could not use: see its step)"
            )
    texts = [(folder / md).read_text(encoding="utf-8") for _, md in (DRIFT, LIVE) if (folder / md).exists()]
    return Findings(verdicts[0], verdicts[1], "\n\n".join(texts), tuple(notes))


def body(findings: Findings, run_url: str) -> str:
    return (
        f"<!-- {LABEL} -->\n**{findings.headline()}** in the daily monitor run {run_url}.\n\n"
        "retrain was dispatched: review its pull request (new data, metrics against main) before anything "
        "deploys. Close this issue once handled; the next alarm opens a new one.\n\n"
        f"{findings.reports}\n"
    )


def open_issue(gh: Gh) -> str | None:
    """The number of the open issue labelled `monitoring`, if any."""
    found = gh(
        ["issue", "list", "--label", LABEL, "--state", "open", "--json", "number", "--jq", ".[0].number"]
    )
    return found.strip() or None


def raise_alarm(findings: Findings, gh: Gh, run_url: str, body_file: Path, retrain: bool) -> list[str]:
    """Open or update the issue and dispatch retrain; returns what was done, one line each."""
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_text(body(findings, run_url), encoding="utf-8")
    done = []
    number = open_issue(gh)
    if number:
        gh(["issue", "edit", number, "--body-file", str(body_file)])
        today = datetime.now(UTC).date().isoformat()
        gh(["issue", "comment", number, "--body", f"{today}: {findings.headline()} again ({run_url})."])
        done.append(f"updated issue #{number}")
    else:
        gh(["label", "create", LABEL, "--color", "D93F0B", "--force",
            "--description", "the daily monitor found drift or a failed live gate"])  # fmt: skip
        created = gh(["issue", "create", "--title", TITLE, "--label", LABEL, "--body-file", str(body_file)])
        done.append(f"opened issue {created.strip()}")
    if retrain:
        gh(["workflow", "run", RETRAIN.name])
        done.append("dispatched retrain")
    else:
        done.append("no retrain workflow in this project (scheduled_retraining=no): retrain by hand")
    return done


def run_gh(args: list[str]) -> str:
    return subprocess.run(["gh", *args], check=True, capture_output=True, text=True).stdout
