"""Stage validate: infer the schema on the first run (commit it), enforce it on every later run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from ..config import Params, load_params
from ..data import TEST_PATH, TRAIN_PATH, read_frame
from ..schema import SCHEMA_PATH, Schema, SchemaError, column_problems, infer_schema, validate_frame

REPORT_PATH = Path("reports/validation.json")


def main() -> int:
    params = load_params()
    frames = {path.name: read_frame(path) for path in (TRAIN_PATH, TEST_PATH)}
    if SCHEMA_PATH.exists():
        schema = Schema.load(SCHEMA_PATH)
        inferred = False
    else:
        schema = infer_schema(
            list(frames.values()),
            params.data.target,
            margin=params.validate_.range_margin,
            max_categories=params.validate_.max_categories,
        )
        schema.save(SCHEMA_PATH)
        inferred = True
        print(f"validate: inferred {SCHEMA_PATH} from the data; commit it, later runs enforce it")
    problems = named_column_problems(list(frames.values()), params)
    if problems:
        print("validate: FAILED: params.yaml names columns the data cannot serve:", file=sys.stderr)
        print("\n".join(f"  - {problem}" for problem in problems), file=sys.stderr)
        return 1
    excluded = list(params.data.exclude_from_features) or None
    if schema.excluded != excluded:
        schema = schema.model_copy(update={"excluded": excluded})
        schema.save(SCHEMA_PATH)
        print(f"validate: {SCHEMA_PATH} keeps {excluded or 'no columns'} out of the features")
    try:
        for frame in frames.values():
            validate_frame(frame, schema)
    except SchemaError as error:
        print(f"validate: FAILED against {SCHEMA_PATH}\n{error}", file=sys.stderr)
        return 1
    rows = {name: len(frame) for name, frame in frames.items()}
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps({"rows": rows, "schema_inferred": inferred}, indent=2) + "\n")
    print(f"validate: {sum(rows.values())} rows match {SCHEMA_PATH} ({len(schema.columns)} columns)")
    return 0


def named_column_problems(frames: list[pd.DataFrame], params: Params) -> list[str]:
    """Columns params.yaml names that the data lacks, or with too many values to slice by; the named
    columns of both splits are put together, never the whole data."""
    problems = []
    for key, columns in (
        ("data.exclude_from_features", params.data.exclude_from_features),
        ("slices.columns", params.slices.columns),
    ):
        present = [name for name in columns if name in frames[0].columns]
        named = pd.concat([frame[present] for frame in frames], ignore_index=True)
        absent = [name for name in columns if name not in present]
        problems += column_problems(frames[0].head(0), absent, params.validate_.max_categories, key)
        problems += column_problems(named, present, params.validate_.max_categories, key)
    return problems


if __name__ == "__main__":
    sys.exit(main())
