"""`make drift`: a window of the prediction record against the training split; reports/drift.{json,md}.

Exit 0: no drift; 1: drift; 2: too few records in the window to decide; 3: an input that cannot be used.
Every problem ends with one line, and the reports are written whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ..config import ParamsError, load_params
from ..data import TEST_PATH, TRAIN_PATH
from ..monitoring.drift import compare, markdown
from ..monitoring.records import (
    PROBABILITY,
    EmptyWindowError,
    InputError,
    check_columns,
    one_line,
    parse_window,
    read_window,
    record_location,
)
from ..monitoring.reports import remove, write_reports
from ..schema import SCHEMA_PATH, Schema, conform

JSON_PATH, MARKDOWN_PATH = Path("reports/drift.json"), Path("reports/drift.md")
NO_DRIFT, DRIFT, TOO_SMALL, BAD_INPUT = 0, 1, 2, 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="drift", description=__doc__.splitlines()[0])
    parser.add_argument("--window", default="", help="24h, 7d, 2w or all (default: monitor.drift.window)")
    parser.add_argument(
        "--record", default="", help="folder or URL of the record (default: PREDICTION_RECORD)"
    )
    return parser.parse_args(argv)


def reference(schema: Schema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training split and the held-out split, as the model sees them."""
    for path in (SCHEMA_PATH, TRAIN_PATH, TEST_PATH):
        if not path.exists():
            raise InputError(f"{path} not found: run `make train` (or `make pull`) first")
    train, test = pd.read_csv(TRAIN_PATH), pd.read_csv(TEST_PATH)
    return conform(train, schema), conform(test, schema)


def held_out_predictions(held_out: pd.DataFrame) -> pd.Series:
    from ..model import MODEL_PATH, load_model

    if not MODEL_PATH.exists():
        raise InputError(f"{MODEL_PATH} not found: run `make train` (or `make pull`) first")
    return pd.Series(load_model(MODEL_PATH).predict(held_out))


def run(args: argparse.Namespace) -> int:
    params = load_params()
    config = params.monitor.drift
    window_text = args.window or config.window
    window = parse_window(window_text)
    location = record_location(args.record)
    if not SCHEMA_PATH.exists():
        raise InputError(f"{SCHEMA_PATH} not found: run `make train` (or `make pull`) first")
    schema = Schema.load(SCHEMA_PATH)
    records = read_window(location, window)
    recorded = check_columns(records, schema, params.monitor.exclude)
    if "prediction" not in records:
        raise InputError(f"the record at {location} has no prediction column")
    if len(records) < config.min_rows:
        print(
            f"drift: {len(records)} records in the last {window_text} at {location}, fewer than "
            f"monitor.drift.min_rows = {config.min_rows}: too few to decide",
            file=sys.stderr,
        )
        remove(JSON_PATH, MARKDOWN_PATH)
        return TOO_SMALL
    train, held_out = reference(schema)
    window_frame = conform(records.reindex(columns=[c.name for c in schema.features]), schema)[recorded]
    window_frame["prediction"] = records["prediction"].to_numpy()
    classification = params.task == "classification"
    result = compare(schema, train, window_frame, held_out_predictions(held_out), classification, config)
    versions = (
        sorted(records["model_version"].dropna().astype(str).unique()) if "model_version" in records else []
    )
    about = {
        "window": window_text,
        "record": location,
        "model_versions": versions,
        "first": str(records["timestamp"].min()) if "timestamp" in records else None,
        "last": str(records["timestamp"].max()) if "timestamp" in records else None,
        "probability_columns": sorted(c for c in records.columns if str(c).startswith(PROBABILITY)),
    }
    payload = result.to_dict(config, about)
    text = markdown(payload)
    write_reports({JSON_PATH: json.dumps(payload, indent=1) + "\n", MARKDOWN_PATH: text})
    print(text)
    if result.drifted:
        print(f"drift: found in {', '.join(result.drifted)}", file=sys.stderr)
        return DRIFT
    return NO_DRIFT


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except EmptyWindowError as error:
        remove(JSON_PATH, MARKDOWN_PATH)
        print(f"drift: {error}: too few to decide", file=sys.stderr)
        return TOO_SMALL
    except (InputError, ParamsError) as error:
        remove(JSON_PATH, MARKDOWN_PATH)
        print(f"drift: {one_line(error)}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
