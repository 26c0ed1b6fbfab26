"""`make ingest-feedback LABELS=...`: labelled production records appended to data/raw/data.csv, validated
against data/schema.json first, and recorded as a new data version with `dvc add`.

Exit 0 when rows were appended (or none were new); 3 on an input that cannot be used, with one line and
the data untouched.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from ..config import ParamsError, load_params
from ..data import RAW_PATH, file_digest
from ..monitoring.feedback import ID, match, read_labels
from ..monitoring.ingest import LEDGER, already_ingested, append, training_rows
from ..monitoring.records import InputError, one_line, read_window, record_location
from ..schema import SCHEMA_PATH, Schema

BAD_INPUT = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ingest-feedback", description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default="", help="CSV or Parquet: prediction_id and the target")
    parser.add_argument("--record", default="", help="the prediction record (default: PREDICTION_RECORD)")
    return parser.parse_args(argv)


def tracking(path) -> str:
    """How `path` is held: dvc (`dvc add`), import (`dvc import-url`), git, or none."""
    dvc_file = path.with_name(path.name + ".dvc")
    if dvc_file.exists():
        return "import" if "deps:" in dvc_file.read_text(encoding="utf-8") else "dvc"
    listed = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(path)], capture_output=True, check=False
    )
    return "git" if listed.returncode == 0 else "none"


def run(args: argparse.Namespace) -> int:
    params = load_params()
    if params.data.source != "csv":
        raise InputError(
            "data.source is demo: prepare rewrites data/raw/data.csv from scikit-learn; switch to your CSV "
            "(README, 'Bring your own CSV') to train on production records"
        )
    held = tracking(RAW_PATH)
    if held == "import":
        raise InputError(f"{RAW_PATH} is imported from a URL (`dvc update` replaces it): append the labelled "
                         "records at the source")  # fmt: skip
    if not RAW_PATH.exists() or not SCHEMA_PATH.exists():
        raise InputError(f"{RAW_PATH} and {SCHEMA_PATH} are needed: run `make pull` or `make train` first")
    schema = Schema.load(SCHEMA_PATH)
    labels = read_labels(args.labels, params.data.target)
    matched, counts = match(labels, params.data.target, read_window(record_location(args.record), None))
    seen = already_ingested()
    new = matched[~matched[ID].isin(seen)].reset_index(drop=True)
    if new.empty:
        print(
            f"ingest-feedback: all {len(matched)} labelled records are already in {RAW_PATH}; nothing to add"
        )
        return 0
    rows = training_rows(new, schema)
    digest = file_digest(RAW_PATH)[:12]
    before, after = append(RAW_PATH, rows, new[ID].tolist())
    print(
        f"ingest-feedback: {len(rows)} labelled records appended to {RAW_PATH}: {before} -> {after} rows "
        f"(sha256 {digest} -> {file_digest(RAW_PATH)[:12]}); {counts['unmatched']} labels not in the "
        f"record, {len(matched) - len(new)} already added"
    )
    if held == "git":
        print(f"ingest-feedback: {RAW_PATH} is kept in git: commit it and {LEDGER}, then `make train`")
        return 0
    added = subprocess.run(
        ["dvc", "add", "--quiet", str(RAW_PATH)], capture_output=True, text=True, check=False
    )
    if added.returncode != 0:
        reason = one_line(RuntimeError(added.stderr or added.stdout))
        print(f"ingest-feedback: rows appended, but `dvc add {RAW_PATH}` failed: {reason}", file=sys.stderr)
        return 1
    print(f"ingest-feedback: new data version in {RAW_PATH}.dvc; commit it and {LEDGER}, then `make train`")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (InputError, ParamsError) as error:
        print(f"ingest-feedback: {one_line(error)}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
