"""`make predict` (and the `{{ cookiecutter.project_slug }}-predict` command): score a CSV or Parquet file.

make predict INPUT=new.csv OUTPUT=scored.csv [MODEL=models:/<name>@champion] [ID=customer_id] [CHUNK=100000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..schema import SCHEMA_PATH, Schema
from ..scoring import DEFAULT_CHUNK, Progress, ScoringError, score_file


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="predict", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="CSV or Parquet file: a path or a URL (s3://bucket/key.csv, ...)")
    parser.add_argument("output", help="where the predictions go (.parquet: Parquet, otherwise CSV)")
    parser.add_argument("--model", default="", help="models/model.skops (default), a file or an MLflow URI")
    parser.add_argument("--id", default="", help="a column of the input to copy to the output")
    parser.add_argument("--chunk", default="", help=f"rows per chunk (default {DEFAULT_CHUNK:,})")
    parser.add_argument("--schema", type=Path, default=SCHEMA_PATH)
    parser.add_argument("--progress-every", type=float, help="seconds between progress lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress(every=args.progress_every)
    try:
        chunk = int(args.chunk) if args.chunk else DEFAULT_CHUNK
    except ValueError:
        print(f"predict: CHUNK must be a number of rows, not {args.chunk!r}", file=sys.stderr)
        return 2
    if not args.schema.exists():
        print(f"predict: {args.schema} not found: run `make train` first", file=sys.stderr)
        return 1
    try:
        schema = Schema.load(args.schema)
        model, id_column = args.model or None, args.id or None
        summary = score_file(args.input, args.output, schema, model, id_column, chunk, progress)
    except ScoringError as error:
        progress.finish()
        print(f"predict: {error}", file=sys.stderr)
        return 1
    progress.finish()
    print(f"predict: {summary.scored:,} of {summary.rows:,} rows scored into {args.output}")
    print(f"predict: model: {summary.model}")
    if summary.rejected:
        rules = ", ".join(f"{rule} ({count:,})" for rule, count in sorted(summary.rules.items()))
        print(f"predict: {summary.rejected:,} rows rejected into {summary.rejects_path}: {rules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
