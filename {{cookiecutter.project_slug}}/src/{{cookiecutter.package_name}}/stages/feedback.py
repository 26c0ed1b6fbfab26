"""`make feedback LABELS=...`: late labels joined to the prediction record, live metrics through the gate.

Writes reports/live.json and reports/live.md. Exit 0: the gate passes; 1: it fails; 2: too few labelled
records to decide; 3: an input that cannot be used (one line, and no report).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ..config import ParamsError, load_params
from ..monitoring.feedback import gate, join, live_metrics, markdown, read_labels, served_version
from ..monitoring.records import InputError, one_line, read_window, record_location
from ..monitoring.reports import remove, write_reports

JSON_PATH, MARKDOWN_PATH = Path("reports/live.json"), Path("reports/live.md")
HELD_OUT_PATH = Path("reports/metrics.json")
PASSED, FAILED, TOO_FEW, BAD_INPUT = 0, 1, 2, 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="feedback", description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default="", help="CSV or Parquet: prediction_id and the target")
    parser.add_argument("--record", default="", help="the prediction record (default: PREDICTION_RECORD)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    params = load_params()
    target = params.data.target
    labels = read_labels(args.labels, target)
    location = record_location(args.record)
    joined = join(labels, target, read_window(location, None), served_version())
    scored = len(joined.frame)
    if scored < params.monitor.feedback.min_rows:
        remove(JSON_PATH, MARKDOWN_PATH)
        print(f"feedback: {scored} labelled records of model version {joined.version}, fewer than "
              f"monitor.feedback.min_rows = {params.monitor.feedback.min_rows}: too few to decide",
              file=sys.stderr)  # fmt: skip
        return TOO_FEW
    live = live_metrics(joined.frame, params.task == "classification")
    checks = gate(params, live)
    held_out = json.loads(HELD_OUT_PATH.read_text(encoding="utf-8")) if HELD_OUT_PATH.exists() else {}
    payload = {
        "labels": args.labels,
        "record": location,
        "model_version": joined.version,
        "other_versions": joined.other_versions,
        "rows": joined.counts,
        "metrics": live,
        "held_out": {name: held_out[name] for name in live if name in held_out},
        "checks": [asdict(check) for check in checks],
        "passed": all(check.passed for check in checks),
    }
    text = markdown(payload)
    write_reports({JSON_PATH: json.dumps(payload, indent=1) + "\n", MARKDOWN_PATH: text})
    print(text)
    if not payload["passed"]:
        failed = "; ".join(check.reason for check in checks if not check.passed)
        print(f"feedback: the live gate FAILED: {failed}", file=sys.stderr)
        return FAILED
    return PASSED


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (InputError, ParamsError) as error:
        remove(JSON_PATH, MARKDOWN_PATH)
        print(f"feedback: {one_line(error)}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
