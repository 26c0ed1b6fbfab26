"""Reading the prediction record (serving/record.py writes it): a time window of it, from a folder or a URL.

The record is Parquet under `<sink>/date=YYYY-MM-DD/part-*.parquet`. A window reads only the date folders
it overlaps, then keeps the rows whose timestamp falls inside it. Problems with the input raise
InputError (or EmptyWindowError) with a one-line message; callers print it and exit, never a traceback.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pandas as pd

from ..batch_io import first_line
from ..schema import Schema

# As serving/record.py names them (imported from there, the stage would load BentoML for two strings).
SETTING = "PREDICTION_RECORD"
DEFAULT_SINK = "records"
# Columns the writer adds to the features.
META = ("prediction_id", "request_id", "timestamp", "model_version", "prediction")
PROBABILITY = "probability_"
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


class InputError(ValueError):
    """An input that cannot be used: the message is one line naming the problem."""


class EmptyWindowError(InputError):
    """The window holds no records (or the record does not exist yet)."""


def one_line(error: BaseException) -> str:
    """Every line of the message on one line (params.yaml's errors list one problem a line)."""
    lines = [line.strip(" -") for line in str(error).splitlines() if line.strip()]
    return " ".join(lines) or type(error).__name__


def record_location(given: str | None = None) -> str:
    """RECORD when given, else the service's PREDICTION_RECORD setting, else its default folder."""
    location = (given or os.environ.get(SETTING) or DEFAULT_SINK).strip()
    if location.lower() in {"off", "none", "false", "0"}:
        raise InputError(
            f"{SETTING} is {location!r}: the service keeps no record; give RECORD=<folder or URL>"
        )
    return location.rstrip("/")


def parse_window(text: str) -> timedelta | None:
    """`7d`, `24h`, `2w` as a duration; `all` as None (every record)."""
    match = re.fullmatch(r"\s*([1-9][0-9]*)\s*([hdw])\s*", text or "")
    if text.strip().lower() == "all":
        return None
    if not match:
        raise InputError(f"WINDOW={text!r}: give a number of hours, days or weeks (24h, 7d, 2w) or all")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def _partitions(fs, root: str) -> list[tuple[str, str]]:
    """(date, folder) of every date partition under `root`, oldest first; [] when there is none."""
    try:
        entries = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if re.fullmatch(r"date=\d{4}-\d\d-\d\d", name):
            found.append((name.removeprefix("date="), entry))
    return sorted(found)


def read_window(
    location: str, window: timedelta | None, columns: list[str] | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """The records of the last `window` (every record when None), `columns` only when given."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        fs, root = fsspec.core.url_to_fs(location)
    except ImportError as error:
        raise InputError(f"{location}: {first_line(error)} (install the fsspec backend it names)") from None
    except ValueError as error:
        raise InputError(f"{location}: {first_line(error)}") from None
    since = None if window is None else (now or datetime.now(UTC)) - window
    try:
        partitions = _partitions(fs, root)
        if not partitions:
            raise EmptyWindowError(f"no prediction record at {location} (is RECORD or {SETTING} right?)")
        first_day = since.strftime("%Y-%m-%d") if since else ""
        files = [
            path
            for day, folder in partitions
            if day >= first_day
            for path in sorted(fs.glob(f"{folder.rstrip('/')}/part-*.parquet"))
        ]
        tables = [pq.read_table(path, filesystem=fs, columns=columns) for path in files]
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"cannot read the prediction record at {location}: {first_line(error)}") from None
    if not tables:
        raise EmptyWindowError(f"no records in the last {_span(window)} at {location}")
    try:
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InputError(f"the files of the record at {location} disagree: {first_line(error)}") from None
    if since is not None and "timestamp" in frame:
        frame = frame[frame["timestamp"] >= pd.Timestamp(since)].reset_index(drop=True)
    if frame.empty:
        raise EmptyWindowError(f"no records in the last {_span(window)} at {location}")
    return frame


def _span(window: timedelta | None) -> str:
    if window is None:
        return "(all)"
    hours = int(window.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def check_columns(frame: pd.DataFrame, schema: Schema, excluded: list[str]) -> list[str]:
    """The schema's features the record holds; InputError on a column the schema does not know, or on a
    feature missing that monitor.exclude does not explain."""
    features = [column.name for column in schema.features]
    unknown = [
        str(name)
        for name in frame.columns
        if name not in features and name not in META and not str(name).startswith(PROBABILITY)
    ]
    if unknown:
        raise InputError(f"the record has columns the schema does not know: {', '.join(unknown[:5])}")
    absent = [name for name in features if name not in frame.columns and name not in excluded]
    if absent:
        raise InputError(f"the record lacks the schema's columns {', '.join(absent[:5])}")
    return [name for name in features if name in frame.columns]
