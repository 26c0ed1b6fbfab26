"""Labelled production records as training rows: the schema's columns, validated, appended to the raw CSV.

A record holds the features the service was sent (minus `monitor.exclude`); its label comes from the
labels file. Columns the record does not hold (excluded ones) are left empty, which the schema must
allow. The ids already appended are kept in LEDGER, so the same labels never enter the data twice.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import pandas as pd

from ..schema import Schema, SchemaError, validate_frame
from .records import InputError

LEDGER = Path("data/raw/ingested-ids.txt")


def already_ingested(ledger: Path = LEDGER) -> set[str]:
    return set(ledger.read_text(encoding="utf-8").split()) if ledger.exists() else set()


def training_rows(joined: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The joined records (record columns and `truth`) as rows of the raw data, checked against `schema`."""
    rows = pd.DataFrame(index=joined.index)
    for column in schema.columns:
        if column.name == schema.target:
            values = joined["truth"]
            rows[column.name] = (
                pd.to_numeric(values, errors="coerce") if column.numeric else values.astype(str)
            )
        elif column.name in joined.columns:
            rows[column.name] = joined[column.name]
        else:
            rows[column.name] = None
    try:
        validate_frame(rows, schema)
    except SchemaError as error:
        more = f" (and {len(error.problems) - 1} more problems)" if len(error.problems) > 1 else ""
        raise InputError(f"labelled records break data/schema.json: {error.problems[0]}{more}") from None
    return rows


def append(raw: Path, rows: pd.DataFrame, ids: list[str], ledger: Path = LEDGER) -> tuple[int, int]:
    """Append `rows` to the CSV `raw` in its own column order (whole or not at all); record `ids`.

    Returns the data rows before and after."""
    with raw.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
        before = sum(1 for _ in handle)
    if sorted(header) != sorted(rows.columns):
        raise InputError(f"{raw} has the columns {header}, the schema {list(rows.columns)}")
    descriptor, name = tempfile.mkstemp(dir=raw.parent, prefix=f".{raw.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as out, raw.open("rb") as source:
            data = source.read()
            out.write(data if data.endswith(b"\n") or not data else data + b"\n")
            out.write(rows[header].to_csv(index=False, header=False, lineterminator="\n").encode())
        os.replace(name, raw)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write("".join(f"{identifier}\n" for identifier in ids))
    return before, before + len(rows)
