"""The estimator chosen in params.yaml, wrapped with the preprocessing into one Pipeline; skops I/O."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import skops.io as sio
import yaml
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from .config import GradientBoostingConfig, LinearConfig, ModelConfig, Params, RandomForestConfig
from .features import build_preprocessor
from .schema import Schema

MODEL_PATH = Path("models/model.skops")

# The only types a saved model may contain beyond skops' defaults. Loading refuses anything else,
# so a tampered or foreign file cannot run code (no unchecked pickle anywhere).
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]


def build_estimator(task: str, config: ModelConfig):
    classification = task == "classification"
    if isinstance(config, RandomForestConfig):
        kind = RandomForestClassifier if classification else RandomForestRegressor
        return kind(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            min_samples_leaf=config.min_samples_leaf,
            random_state=config.seed,
            n_jobs=1,
        )
    if isinstance(config, GradientBoostingConfig):
        kind = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        return kind(
            learning_rate=config.learning_rate,
            max_iter=config.max_iter,
            max_leaf_nodes=config.max_leaf_nodes,
            random_state=config.seed,
        )
    if isinstance(config, LinearConfig):
        if classification:
            return LogisticRegression(C=1.0 / config.regularization, max_iter=5000, random_state=config.seed)
        return Ridge(alpha=config.regularization)
    raise TypeError(f"unknown model config {type(config).__name__}")


def build_pipeline(params: Params, schema: Schema) -> Pipeline:
    return Pipeline(
        [
            ("features", build_preprocessor(schema, params.features)),
            ("model", build_estimator(params.task, params.model)),
        ]
    )


def save_model(model: Pipeline, path: Path = MODEL_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)


class UntrustedModelError(RuntimeError):
    """The model file holds types outside TRUSTED_TYPES."""


def load_model(path: Path = MODEL_PATH) -> Pipeline:
    """Load a skops file, refusing any type outside TRUSTED_TYPES (never a pickle)."""
    data = path.read_bytes()  # read once: what is checked is what is loaded
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedModelError(f"{path} contains types that are not trusted: {untrusted}")
    return sio.loads(data, trusted=TRUSTED_TYPES)


class ModelSourceError(RuntimeError):
    """MODEL_URI names a model that cannot be loaded safely here."""


def serving_model() -> Pipeline:
    """The model the service answers with.

    With MODEL_URI set (e.g. `models:/{{ cookiecutter.project_slug }}@champion`, or `runs:/<id>/model`), the
    model's files come from MLflow and its skops file is loaded with TRUSTED_TYPES, as a local one is;
    otherwise the file MODEL_PATH (default models/model.skops).
    """
    uri = os.environ.get("MODEL_URI")
    if not uri:
        return load_model(Path(os.environ.get("MODEL_PATH", MODEL_PATH)))
    with tempfile.TemporaryDirectory() as folder:
        return load_model(download_model(uri, Path(folder)))


def download_model(uri: str, folder: Path) -> Path:
    """Fetch an MLflow model's files into `folder`; return its skops file (a pickled model is refused)."""
    try:
        import mlflow.artifacts  # the pipeline group (or mlflow-skinny) has it; the bento does not
    except ImportError as error:
        raise ModelSourceError(
            f"MODEL_URI={uri} needs MLflow in this environment: add mlflow-skinny to the dependencies "
            "in pyproject.toml, or unset MODEL_URI to serve models/model.skops"
        ) from error
    from .tracking import tracking_uri

    server = tracking_uri()
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(folder), tracking_uri=server, registry_uri=server
        )
    )
    flavor = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))["flavors"].get("sklearn", {})
    if flavor.get("serialization_format") != "skops":
        raise ModelSourceError(f"{uri} is not a scikit-learn model saved with skops; it is not loaded")
    return local / flavor["pickled_model"]
