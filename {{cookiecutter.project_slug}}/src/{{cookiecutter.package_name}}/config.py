"""params.yaml parsed into strict typed models: a typo or an unknown key is an error, not a default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PARAMS_PATH = Path("params.yaml")

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    source: Literal["demo", "csv"]
    target: str = Field(min_length=1)
    test_size: Fraction = 0.2
    seed: int = 42


class ValidateConfig(Strict):
    range_margin: float = Field(0.5, ge=0.0)
    max_categories: int = Field(50, ge=2)


class FeaturesConfig(Strict):
    numeric_imputer: Literal["median", "mean"] = "median"
    scale_numeric: bool = True


class RandomForestConfig(Strict):
    name: Literal["random_forest"]
    n_estimators: int = Field(100, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    seed: int = 42


class GradientBoostingConfig(Strict):
    name: Literal["gradient_boosting"]
    learning_rate: float = Field(0.1, gt=0.0, le=1.0)
    max_iter: int = Field(100, ge=1, le=10000)
    max_leaf_nodes: int = Field(31, ge=2)
    seed: int = 42


class LinearConfig(Strict):
    name: Literal["linear"]
    regularization: float = Field(1.0, gt=0.0)
    seed: int = 42


ModelConfig = Annotated[
    RandomForestConfig | GradientBoostingConfig | LinearConfig, Field(discriminator="name")
]


class MetricGate(Strict):
    """Bounds for one metric; `tolerance` is absolute, or a fraction of the baseline when `relative`."""

    min: float | None = None
    max: float | None = None
    tolerance: float = Field(0.0, ge=0.0)
    relative: bool = False

    @model_validator(mode="after")
    def _one_direction(self) -> MetricGate:
        if self.min is not None and self.max is not None:
            raise ValueError("give either min or max for a metric, not both")
        return self


class MonitorConfig(Strict):
    """What the prediction record keeps (serving/record.py); drift thresholds join this section."""

    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    exclude: list[str] = Field(default_factory=list)


class Params(Strict):
    task: Literal["classification", "regression"]
    data: DataConfig
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig
    gate: dict[str, MetricGate] = Field(min_length=1)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    @model_validator(mode="after")
    def _gate_names_known_metrics(self) -> Params:
        from .metrics import METRICS

        unknown = sorted(set(self.gate) - set(METRICS[self.task]))
        if unknown:
            known = ", ".join(METRICS[self.task])
            raise ValueError(f"gate names unknown {self.task} metrics {unknown}; known: {known}")
        return self


class ParamsError(ValueError):
    """params.yaml is missing, not YAML, or does not match the expected structure."""


def parse_params(raw: object) -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        lines = [
            f"  {'.'.join(str(part) for part in problem['loc']) or '<root>'}: {problem['msg']}"
            for problem in error.errors()
        ]
        raise ParamsError("params.yaml is invalid:\n" + "\n".join(lines)) from None


def load_params(path: Path = PARAMS_PATH) -> Params:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ParamsError(f"cannot read {path}: {error}") from None
    return parse_params(raw)
