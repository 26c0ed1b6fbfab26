"""`make monitor-issue`: on drift or a failed live gate, open or update the one monitoring issue and
dispatch retrain (GH_TOKEN, GH_REPO, RUN_URL and the checks' step outcomes DRIFT_OUTCOME, FEEDBACK_OUTCOME
from the workflow); otherwise say so and do nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..monitoring.issue import RETRAIN, MonitorError, raise_alarm, read_findings, run_gh

BODY = Path("build/monitor-issue.md")


def main() -> int:
    try:
        findings = read_findings(os.environ.get("DRIFT_OUTCOME", ""), os.environ.get("FEEDBACK_OUTCOME", ""))
    except MonitorError as problem:
        print(f"monitor-issue: {problem}", file=sys.stderr)
        return 1
    for note in findings.notes:
        print(f"::warning::{note}")  # an annotation on the run (plain text elsewhere)
    if not findings.alarm:
        print(f"monitor-issue: {findings.headline()}: no issue, retrain not dispatched")
        return 0
    run_url = os.environ.get("RUN_URL") or "(run locally)"
    try:
        done = raise_alarm(findings, run_gh, run_url, BODY, retrain=RETRAIN.exists())
    except subprocess.CalledProcessError as failed:
        print(
            f"monitor-issue: gh {' '.join(failed.cmd[1:3])} failed: {failed.stderr.strip()}", file=sys.stderr
        )
        return 1
    print(f"monitor-issue: {findings.headline()}: " + "; ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
