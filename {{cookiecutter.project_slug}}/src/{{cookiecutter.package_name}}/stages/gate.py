"""`make gate`: check reports/metrics.json against params.yaml (and a baseline); promote on a pass."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..compiled import read_parity
from ..config import load_params
from ..evaluation import trust
from ..evaluation.card import card_warning
from ..gate import evaluate_gate, report

METRICS_PATH = Path("reports/metrics.json")
REPORT_PATH = Path("reports/gate.md")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, default=METRICS_PATH)
    parser.add_argument("--baseline", type=Path, help="metrics file to compare with (e.g. main's)")
    parser.add_argument("--report", type=Path, default=REPORT_PATH)
    parser.add_argument("--no-promote", action="store_true", help="do not register or alias the model")
    parser.add_argument("--plots-url", help="where readers of the report find the plots (e.g. the CI run)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = load_params()
    current = json.loads(args.metrics.read_text(encoding="utf-8"))
    baseline = None
    if args.baseline is not None and args.baseline.exists() and args.baseline.stat().st_size:
        baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    checks = evaluate_gate(params.gate, current, baseline)
    sections, more_failures = trust.review(params, current, args.metrics.parent)
    compiled = read_parity()
    if compiled is not None:  # which model the service will run, and why not the compiled one
        sections = [f"Serving: {compiled.line()}.", "", *sections]
    warning = card_warning()
    if warning:
        print(warning, file=sys.stderr)
        if os.environ.get("GITHUB_ACTIONS") == "true":  # an annotation on the workflow run too
            print(f"::warning title=Model card::{warning}")
        sections = [f"> {warning}", "", *sections]
    text = report(checks, plots_url=args.plots_url, sections=sections, failures=more_failures)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)
    failed = [check.reason for check in checks if not check.passed] + more_failures
    if failed:
        print("gate: FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
    if not args.no_promote:
        from ..tracking import CHAMPION, REGISTERED_MODEL, RunElsewhereError, promote

        try:
            version = promote(CHAMPION)
        except RunElsewhereError as elsewhere:  # the gate passed; only the alias could not move
            print(f"gate: passed; not promoted: {elsewhere}", file=sys.stderr)
            if os.environ.get("GITHUB_ACTIONS") == "true":
                print(f"::warning title=Not promoted::{elsewhere}")
            return 0
        print(f"gate: passed; MLflow model {REGISTERED_MODEL!r} version {version} is now @{CHAMPION}")
        described = trust.registry_card(version, CHAMPION)
        if described:
            from ..tracking import describe

            describe(version, described)
    return 0


if __name__ == "__main__":
    sys.exit(main())
