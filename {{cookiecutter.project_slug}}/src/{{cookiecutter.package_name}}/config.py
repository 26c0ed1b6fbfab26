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
    # Columns kept in the data (validated, usable as slices) but never given to the model or the service.
    exclude_from_features: list[str] = Field(default_factory=list)


class ValidateConfig(Strict):
    range_margin: float = Field(0.5, ge=0.0)
    max_categories: int = Field(50, ge=2)


class FeaturesConfig(Strict):
    numeric_imputer: Literal["median", "mean"] = "median"
    scale_numeric: bool = True
    # auto: ordinal for the tree models (one column a category column), one-hot for the linear ones.
    categorical_encoding: Literal["auto", "onehot", "ordinal"] = "auto"


class RandomForestConfig(Strict):
    name: Literal["random_forest"]
    n_estimators: int = Field(100, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    # Rows drawn for each tree at most; null: as many as the training split has (scikit-learn's default).
    max_samples: int | None = Field(None, ge=1)
    # Leaves of each tree at most; null: grown until pure (scikit-learn's default).
    max_leaf_nodes: int | None = Field(None, ge=2)
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


class DriftConfig(Strict):
    """`make drift`: the window of the record compared with the training split, and when a shift counts."""

    window: str = Field("7d", pattern=r"^(all|[1-9][0-9]*[hdw])$")  # hours, days, weeks, or every record
    min_rows: int = Field(200, ge=10)  # fewer records in the window: no verdict (exit 2)
    # Largest chance of a false drift verdict on a clean window, after the multiple-testing correction.
    alpha: float = Field(0.01, gt=0.0, lt=1.0)
    correction: Literal["benjamini-hochberg", "bonferroni"] = "benjamini-hochberg"
    # Smallest shift that counts, whatever the p-value: the KS distance of a numeric column, the total
    # variation distance of a categorical one (0 to 1). Large windows make tiny shifts significant.
    min_distance: float = Field(0.05, ge=0.0, le=1.0)


class FeedbackConfig(Strict):
    """`make feedback`: live metrics from late labels, through the gate's absolute thresholds."""

    min_rows: int = Field(50, ge=1)  # fewer labelled records of the model: no verdict (exit 2)


class MonitorConfig(Strict):
    """What the prediction record keeps (serving/record.py), and how drift and live metrics are judged."""

    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    exclude: list[str] = Field(default_factory=list)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)


class CompileConfig(Strict):
    """The ONNX twin of the pipeline (compiled.py): written only when it answers like the pipeline."""

    enabled: bool = True
    # Classification: the largest difference of a probability (labels must be identical); regression:
    # the largest difference of a prediction, as a fraction of the largest prediction's magnitude.
    tolerance: float = Field(1e-5, gt=0.0, le=0.1)


class CrossvalConfig(Strict):
    folds: int = Field(5, ge=2, le=20)
    # The gate fails when a held-out metric is worse than the cross-validated mean by more than this many
    # standard deviations of the folds; null turns the check off.
    max_deviation_std: float | None = Field(3.0, gt=0.0)
    # Training rows the folds are drawn from at most (a random sample beyond); null: every row.
    max_rows: int | None = Field(200_000, ge=100)


class ImportanceConfig(Strict):
    metric: str | None = None  # a metric of the task; the task's first (accuracy, r2) when not given
    n_repeats: int = Field(5, ge=1, le=100)
    top: int = Field(10, ge=1, le=100)
    # Held-out rows shuffled at most (a random sample of them beyond); null: every row.
    max_rows: int | None = Field(None, ge=10)


class SliceRule(Strict):
    """For every group of a slice column: a bound (`min` or `max`), and the largest gap between groups."""

    min: float | None = None
    max: float | None = None
    max_gap: float | None = Field(None, ge=0.0)

    @model_validator(mode="after")
    def _one_direction(self) -> SliceRule:
        if self.min is not None and self.max is not None:
            raise ValueError("give either min or max for a metric, not both")
        return self


class FairnessConfig(Strict):
    """Largest tolerated differences between groups (classification); null: reported, not gated."""

    demographic_parity: float | None = Field(None, ge=0.0, le=1.0)
    equalized_odds: float | None = Field(None, ge=0.0, le=1.0)


class SlicesConfig(Strict):
    columns: list[str] = Field(default_factory=list)
    min_group_size: int = Field(30, ge=1)
    metrics: dict[str, SliceRule] = Field(default_factory=dict)
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)


class Params(Strict):
    task: Literal["classification", "regression"]
    data: DataConfig
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig
    gate: dict[str, MetricGate] = Field(min_length=1)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    compile: CompileConfig = Field(default_factory=CompileConfig)
    crossval: CrossvalConfig = Field(default_factory=CrossvalConfig)
    importance: ImportanceConfig = Field(default_factory=ImportanceConfig)
    slices: SlicesConfig = Field(default_factory=SlicesConfig)

    @model_validator(mode="after")
    def _gate_names_known_metrics(self) -> Params:
        from .metrics import METRICS

        unknown = sorted(set(self.gate) - set(METRICS[self.task]))
        if unknown:
            known = ", ".join(METRICS[self.task])
            raise ValueError(f"gate names unknown {self.task} metrics {unknown}; known: {known}")
        return self

    @model_validator(mode="after")
    def _slices_are_consistent(self) -> Params:
        from .metrics import HIGHER_IS_BETTER, METRICS

        for name, rule in self.slices.metrics.items():
            if name not in METRICS[self.task]:
                known = ", ".join(METRICS[self.task])
                raise ValueError(f"slices.metrics names unknown {self.task} metric {name!r}; known: {known}")
            wrong = "max" if HIGHER_IS_BETTER[name] else "min"
            if getattr(rule, wrong) is not None:
                right = "min" if wrong == "max" else "max"
                raise ValueError(f"slices.metrics.{name}: {name} is bounded by {right}, not {wrong}")
        if self.importance.metric is not None and self.importance.metric not in METRICS[self.task]:
            known = ", ".join(METRICS[self.task])
            raise ValueError(
                f"importance.metric {self.importance.metric!r} is not a {self.task} metric: {known}"
            )
        fairness = self.slices.fairness
        gated = (fairness.demographic_parity, fairness.equalized_odds) != (None, None)
        if self.task == "regression" and gated:
            raise ValueError("slices.fairness applies to classification only; remove it for regression")
        for key, columns in (
            ("data.exclude_from_features", self.data.exclude_from_features),
            ("slices.columns", self.slices.columns),
        ):
            if self.data.target in columns:
                raise ValueError(f"{key} names the target column {self.data.target!r}")
            if len(set(columns)) != len(columns):
                raise ValueError(f"{key} names a column twice: {columns}")
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
