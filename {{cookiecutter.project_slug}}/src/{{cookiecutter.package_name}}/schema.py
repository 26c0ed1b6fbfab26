"""The data schema: inferred once, committed, then enforced on training data and on service requests."""

from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

SCHEMA_PATH = Path("data/schema.json")
# The field of a `POST /predict` body that holds the records (typed by `record_model`), as in
# reports/request_example.json; the service's `predict` parameter carries this name.
RECORDS_FIELD = "records"


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["integer", "number", "category", "text"]
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "number")


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    columns: list[Column]
    # Validated like every column, never a feature (params.yaml data.exclude_from_features).
    excluded: list[str] | None = None

    @property
    def features(self) -> list[Column]:
        kept_out = {self.target, *(self.excluded or [])}
        return [column for column in self.columns if column.name not in kept_out]

    @property
    def numeric_features(self) -> list[str]:
        return [column.name for column in self.features if column.numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [column.name for column in self.features if not column.numeric]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    def save(self, path: Path = SCHEMA_PATH) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = SCHEMA_PATH) -> Schema:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))


class SchemaError(ValueError):
    """Data that breaks the schema; `problems` holds one line per column and rule."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("data does not match the schema:\n" + "\n".join(f"  - {p}" for p in problems))


def _widen(low: float, high: float, margin: float) -> tuple[float, float]:
    span = (high - low) or abs(high) or 1.0
    lower = low - margin * span
    # A quantity never seen below zero (a count, a size) stays non-negative.
    return (max(lower, 0.0) if low >= 0 else lower), high + margin * span


def infer_column(name: str, values: pd.Series, margin: float, max_categories: int) -> Column:
    nullable = bool(values.isna().any())
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return Column(name=name, kind="category", nullable=nullable, categories=["False", "True"])
    if pd.api.types.is_numeric_dtype(values):
        kind = "integer" if pd.api.types.is_integer_dtype(values) else "number"
        low, high = (float(present.min()), float(present.max())) if len(present) else (0.0, 0.0)
        minimum, maximum = _widen(low, high, margin)
        if kind == "integer":
            minimum, maximum = float(np.floor(minimum)), float(np.ceil(maximum))
        return Column(name=name, kind=kind, nullable=nullable, minimum=minimum, maximum=maximum)
    # Distinct values first, then text: a million rows are never turned into strings one by one.
    levels = sorted(pd.Series(present.unique()).astype(str).unique().tolist())
    if len(levels) > max_categories:
        return Column(name=name, kind="text", nullable=nullable)
    return Column(name=name, kind="category", nullable=nullable, categories=levels)


def infer_schema(
    frame: pd.DataFrame | list[pd.DataFrame], target: str, margin: float = 0.5, max_categories: int = 50
) -> Schema:
    """Describe every column of `frame`: kind, whether missing values occur, range or levels.

    Several frames (the train and test splits) are read as one, a column at a time: concatenating whole
    frames would hold the data twice.
    """
    parts = frame if isinstance(frame, list) else [frame]
    if target not in parts[0].columns:
        raise SchemaError([f"column {target!r} (the target) is missing"])

    def values(name) -> pd.Series:
        if len(parts) == 1:
            return parts[0][name]
        return pd.concat([part[name] for part in parts], ignore_index=True)

    columns = [infer_column(str(name), values(name), margin, max_categories) for name in parts[0].columns]
    return Schema(target=target, columns=columns)


def broken_rules(column: Column, values: pd.Series) -> list[tuple[str, np.ndarray]]:
    """Each rule of `column` that some `values` break, with the boolean mask of the rows that break it.

    Vectorised on numpy arrays (a few passes per column), so the validate stage and batch scoring run it
    on millions of rows; a value breaks at most one rule of its column besides being missing.
    """
    rules: list[tuple[str, np.ndarray]] = []
    missing = values.isna().to_numpy()
    if not column.nullable:
        rules.append(("missing value, none allowed", missing))
    if column.numeric:
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        not_number = np.isnan(numbers) & ~missing
        infinite = np.isinf(numbers)
        rules += [("not a number", not_number), ("infinite value", infinite)]
        finite = np.where(infinite, np.nan, numbers)  # NaN compares False: only finite numbers are judged
        with np.errstate(invalid="ignore"):
            if column.kind == "integer":
                rules.append(("not a whole number", np.mod(finite, 1) > 0))
            outside = np.zeros(len(numbers), dtype=bool)
            if column.minimum is not None:
                outside |= finite < column.minimum
            if column.maximum is not None:
                outside |= finite > column.maximum
        rules.append((f"outside the range [{column.minimum}, {column.maximum}]", outside))
    elif column.categories is not None:
        text = values if _is_text(values) else values.astype(str)
        rules.append(("not an allowed category", ~missing & ~text.isin(column.categories).to_numpy()))
    return [(rule, mask) for rule, mask in rules if mask.any()]


def _is_text(values: pd.Series) -> bool:
    """Strings already, or a categorical of strings (as the validate stage reads text: judged by codes)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.api.types.is_string_dtype(values.cat.categories)
    return pd.api.types.is_string_dtype(values)


def _check_column(column: Column, values: pd.Series) -> list[str]:
    """One line per rule broken by `values`, with how many broke it and an example."""
    name = column.name
    problems = []
    for rule, mask in broken_rules(column, values):
        count, first = int(mask.sum()), values[mask].iloc[0]
        if rule.startswith("missing"):
            problems.append(f"column {name!r}: {count} missing values, none allowed")
        elif rule == "not a number":
            problems.append(f"column {name!r}: {count} values are not numbers, e.g. {str(first)!r}")
            return problems
        elif rule == "infinite value":
            problems.append(f"column {name!r}: infinite values are not allowed")
            return problems
        elif rule == "not a whole number":
            problems.append(f"column {name!r}: values must be whole numbers")
        elif rule.startswith("outside"):
            problems.append(
                f"column {name!r}: {count} values outside the range [{column.minimum}, {column.maximum}], "
                f"e.g. {float(first)}"
            )
        else:
            unknown = sorted(set(values[mask].astype(str)))
            problems.append(
                f"column {name!r}: values {unknown[:5]} are not among the allowed {column.categories[:10]}"
            )
    return problems


def rejected_rows(frame: pd.DataFrame, schema: Schema) -> pd.Series:
    """The rows of `frame` that break a rule of a feature column: row label -> "column: rule; ...".

    Empty when every row is valid. The frame must hold every feature column (extra columns are ignored).
    """
    reasons: dict[object, list[str]] = {}
    for column in schema.features:
        for rule, mask in broken_rules(column, frame[column.name]):
            for label in frame.index[mask]:
                reasons.setdefault(label, []).append(f"{column.name}: {rule}")
    ordered = frame.index[frame.index.isin(list(reasons))]
    return pd.Series(["; ".join(reasons[label]) for label in ordered], index=ordered, dtype=object)


def column_problems(frame: pd.DataFrame, columns: list[str], max_groups: int, key: str) -> list[str]:
    """A named column that is not in the data, or has too many distinct values to be a slice."""
    problems = []
    for column in columns:
        if column not in frame.columns:
            columns_found = ", ".join(map(str, frame.columns))
            problems.append(f"{key} names {column!r}, which is not a column of the data ({columns_found})")
        elif key == "slices.columns" and frame[column].nunique(dropna=True) > max_groups:
            count = frame[column].nunique(dropna=True)
            problems.append(
                f"{key} names {column!r}, which has {count} distinct values; a slice column has at most "
                f"{max_groups} (validate.max_categories)"
            )
    return problems


def validate_frame(frame: pd.DataFrame, schema: Schema) -> None:
    """Raise SchemaError naming each column and rule that `frame` breaks."""
    expected = [column.name for column in schema.columns]
    problems = [f"column {name!r} is missing" for name in expected if name not in frame.columns]
    problems += [
        f"column {str(name)!r} is not in the schema" for name in frame.columns if name not in expected
    ]
    for column in schema.columns:
        if column.name in frame.columns:
            problems += _check_column(column, frame[column.name])
    if problems:
        raise SchemaError(problems)


def conform(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Cast the schema's feature columns to the types the model expects, in the schema's order.

    Columns already of their type are the frame's own, not copies (pandas 3 copies on write, so neither
    frame changes the other). On 800,000 rows, sharing them here and in read_frame took the train
    stage's peak up to this step from 787 to 585 MiB."""
    columns = {}
    for column in schema.features:
        values = frame[column.name]
        if column.numeric:
            if values.dtype != np.float64:  # already floats (as batch scoring reads them): no copy
                values = pd.to_numeric(values, errors="coerce").astype(float)
            columns[column.name] = values
        else:
            columns[column.name] = as_text(values)
    return pd.DataFrame(columns, index=frame.index, copy=False)


def as_text(values: pd.Series) -> pd.Series:
    """A categorical or text column as the model sees it: strings, missing values as NaN, object dtype.

    Always object dtype, whatever pandas inferred (pandas 3 infers its string dtype for some inputs and not
    others), so training, the service and batch scoring hand the model the same frame.
    """
    if values.dtype == object and pd.api.types.is_string_dtype(values):  # Python strings already
        return values.astype(object).where(values.notna(), np.nan)
    if pd.api.types.is_string_dtype(values):
        # pandas' own string dtype (pandas 3 reads text as it): one Python string per distinct value, shared
        # by its rows. Ten text columns of 1,000,000 rows took 728 MiB and 0.53 s with a string per row,
        # 114 MiB and 0.21 s so.
        codes, distinct = pd.factorize(values)
        texts = np.empty(len(distinct) + 1, dtype=object)
        texts[:-1], texts[-1] = distinct, np.nan  # code -1 (missing) takes the NaN
        return pd.Series(texts[codes], index=values.index, name=values.name, dtype=object)
    return values.map(lambda value: str(value) if pd.notna(value) else np.nan).astype(object)


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _field(column: Column) -> tuple[Any, Any]:
    if column.numeric:
        # Strict: true, false and "1.5" are not numbers. An integer column takes 3.0 too (JSON writers,
        # pandas among them, write integers as floats when a column has gaps), but never 3.5.
        constraints = Field(ge=column.minimum, le=column.maximum, allow_inf_nan=False, strict=True)
        if column.kind == "integer":
            annotation: Any = Annotated[int, constraints, BeforeValidator(_integral)]
        else:
            annotation = Annotated[float, constraints]
    elif column.categories is not None:
        annotation = Literal[tuple(column.categories)]
    else:
        annotation = Annotated[str, Field(max_length=1000)]
    if column.nullable:
        return annotation | None, Field(None, alias=column.name)
    return annotation, Field(..., alias=column.name)


def record_model(schema: Schema) -> type[BaseModel]:
    """A pydantic model of one input record: the schema's features, typed and bounded, nothing else."""
    fields = {f"field_{index}": _field(column) for index, column in enumerate(schema.features)}
    config = ConfigDict(extra="forbid", populate_by_name=False, ser_json_inf_nan="null")
    return create_model("Record", __config__=config, **fields)


def picker(indices: list[int]):
    """The values at `indices` of a row, as a tuple, picked in C (itemgetter of one index gives the value)."""
    return itemgetter(*indices) if len(indices) > 1 else lambda row: tuple(row[i] for i in indices)


def feature_values(records: list[BaseModel]) -> list[list]:
    """Each typed record's features in schema order (a Record's fields are the schema's features)."""
    return [list(record.__dict__.values()) for record in records]


def numeric_matrix(rows: list, positions: list[int]) -> np.ndarray:
    """The values at `positions` of each row (a record's features in schema order) as one float array, a
    column per position; None becomes NaN. When every feature is numeric the rows are the matrix."""
    width = len(positions)
    if rows and width != len(rows[0]):
        pick = picker(positions)
        rows = [pick(row) for row in rows]
    return np.array(rows, dtype=np.float64).reshape(len(rows), width)
