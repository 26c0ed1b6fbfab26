"""The data schema: inferred once, committed, then enforced on training data and on service requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

SCHEMA_PATH = Path("data/schema.json")


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
    levels = sorted(present.astype(str).unique().tolist())
    if len(levels) > max_categories:
        return Column(name=name, kind="text", nullable=nullable)
    return Column(name=name, kind="category", nullable=nullable, categories=levels)


def infer_schema(frame: pd.DataFrame, target: str, margin: float = 0.5, max_categories: int = 50) -> Schema:
    """Describe every column of `frame`: kind, whether missing values occur, range or levels."""
    if target not in frame.columns:
        raise SchemaError([f"column {target!r} (the target) is missing"])
    columns = [infer_column(str(name), frame[name], margin, max_categories) for name in frame.columns]
    return Schema(target=target, columns=columns)


def _check_column(column: Column, values: pd.Series) -> list[str]:
    name = column.name
    problems = []
    if not column.nullable and values.isna().any():
        problems.append(f"column {name!r}: {int(values.isna().sum())} missing values, none allowed")
    present = values.dropna()
    if column.numeric:
        numbers = pd.to_numeric(present, errors="coerce")
        bad = present[numbers.isna()]
        if len(bad):
            problems.append(f"column {name!r}: {len(bad)} values are not numbers, e.g. {str(bad.iloc[0])!r}")
            return problems
        if not np.isfinite(numbers.to_numpy(dtype=float)).all():
            problems.append(f"column {name!r}: infinite values are not allowed")
            return problems
        if column.kind == "integer" and (numbers % 1 != 0).any():
            problems.append(f"column {name!r}: values must be whole numbers")
        low, high = column.minimum, column.maximum
        outside_mask = pd.Series(False, index=numbers.index)
        if low is not None:
            outside_mask |= numbers < low
        if high is not None:
            outside_mask |= numbers > high
        outside = numbers[outside_mask]
        if len(outside):
            problems.append(
                f"column {name!r}: {len(outside)} values outside the range [{low}, {high}], "
                f"e.g. {float(outside.iloc[0])}"
            )
    elif column.categories is not None:
        unknown = sorted(set(present.astype(str)) - set(column.categories))
        if unknown:
            problems.append(
                f"column {name!r}: values {unknown[:5]} are not among the allowed {column.categories[:10]}"
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
    """Cast the schema's feature columns to the types the model expects, in the schema's order."""
    columns = {}
    for column in schema.features:
        values = frame[column.name]
        if column.numeric:
            columns[column.name] = pd.to_numeric(values, errors="coerce").astype(float)
        else:
            columns[column.name] = as_text(values)
    return pd.DataFrame(columns, index=frame.index)


def as_text(values: pd.Series) -> pd.Series:
    """A categorical or text column as the model sees it: strings, missing values as NaN."""
    return values.map(lambda value: str(value) if pd.notna(value) else np.nan)


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
