"""The estimator chosen in params.yaml, wrapped with the preprocessing into one Pipeline, and where the
served model's files come from (a local file, or MLflow); model_io.py reads and writes the files."""

from __future__ import annotations

import contextlib
import ctypes
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from .config import GradientBoostingConfig, LinearConfig, ModelConfig, Params, RandomForestConfig
from .data import TRAIN_PATH, features_and_target, read_frame
from .features import build_preprocessor
from .model_io import (  # noqa: F401 (the file functions, where the package's modules import them from)
    MODEL_PATH,
    ONNX_PATH,
    TRUSTED_TYPES,
    ModelSourceError,
    UntrustedModelError,
    load_model,
    load_model_bytes,
    save_model,
)
from .schema import Schema, conform


def build_estimator(task: str, config: ModelConfig):
    classification = task == "classification"
    if isinstance(config, RandomForestConfig):
        kind = RandomForestClassifier if classification else RandomForestRegressor
        return kind(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            min_samples_leaf=config.min_samples_leaf,
            max_samples=config.max_samples,
            max_leaf_nodes=config.max_leaf_nodes,
            random_state=config.seed,
            n_jobs=1,  # serving: a few rows per call, where threads cost more than they give (fit_estimator)
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
            ("features", build_preprocessor(schema, params.features, params.model.name)),
            ("model", build_estimator(params.task, params.model)),
        ]
    )


def _estimator(pipeline):
    """The estimator of a Pipeline (its last step), or the estimator itself."""
    return pipeline[-1] if isinstance(pipeline, Pipeline) else pipeline


def rows_per_tree(pipeline, rows: int):
    """The pipeline, its forest fitted on `rows` rows, with the bounds that cannot bind dropped, so a small
    split gets exactly the forest it would get without them:
    - `max_samples` (rows drawn for each tree) of at least `rows`: scikit-learn would draw `max_samples`
      rows with replacement, more than without the bound;
    - `max_leaf_nodes` of at least the rows drawn for a tree (a tree has at most a leaf a row drawn):
      scikit-learn grows a bounded tree best-first, splitting its nodes in another order, so the random
      features tried at each split would differ.
    Other estimators are left as they are."""
    estimator = _estimator(pipeline)
    if not isinstance(estimator, RandomForestClassifier | RandomForestRegressor):
        return pipeline
    bound = estimator.max_samples
    if isinstance(bound, int) and bound >= rows:
        estimator.set_params(max_samples=None)
    drawn = estimator.max_samples if isinstance(estimator.max_samples, int) else rows
    if estimator.max_leaf_nodes is not None and estimator.max_leaf_nodes >= drawn:
        estimator.set_params(max_leaf_nodes=None)
    return pipeline


def fit_preprocessing(pipeline, features):
    """Fit the pipeline's steps before its estimator on `features`; the estimator's input made from them,
    in the type the estimator computes in, so that `fit_estimator` on it fits exactly what
    `pipeline.fit(features, ...)` would. A forest computes in float32 and would copy the float64 matrix
    into one: cast here, the float64 one is gone before the trees grow (and so can the caller's frame)."""
    matrix = pipeline[:-1].fit_transform(features) if isinstance(pipeline, Pipeline) else features
    if isinstance(_estimator(pipeline), RandomForestClassifier | RandomForestRegressor):
        matrix = matrix.astype(np.float32)  # as the forest's own fit casts it
    return matrix


def fit_estimator(pipeline, matrix, target):
    """Fit the pipeline's estimator on what `fit_preprocessing` made; the pipeline is then fitted.

    A forest grows its trees on every core, then is set back to one job: the service and batch scoring
    call it with few rows at a time, from threads of their own. (Gradient boosting uses every core by
    itself; the linear models have nothing to share out.)"""
    estimator = _estimator(pipeline)
    forest = isinstance(estimator, RandomForestClassifier | RandomForestRegressor)
    if forest:
        estimator.set_params(n_jobs=-1)
    estimator.fit(matrix, target)
    if forest:
        estimator.set_params(n_jobs=1)
    release_freed_memory()  # the fit's own arrays, before the caller scores or fits again
    return pipeline


def fit_model(params: Params, schema: Schema, features, target) -> Pipeline:
    """The pipeline of params.yaml fitted on `features`: what `Pipeline.fit` gives, in the two steps above
    (rows_per_tree first)."""
    pipeline = rows_per_tree(build_pipeline(params, schema), len(features))
    return fit_estimator(pipeline, fit_preprocessing(pipeline, features), target)


def read_training_split(schema: Schema, target: str, select=None):
    """The training split's features, conformed to the schema, and its labels: read in chunks with
    categories as categoricals (on 800,000 rows of 30 columns the train stage's peak was 195 MiB lower
    than with one read of the file by pandas, which holds text as a string a row). `select(features,
    labels)` may keep some of the rows before they are conformed. The file's frame, and what reading it
    freed, are gone before the fit's arrays are made."""
    frame = read_frame(TRAIN_PATH, text=schema.categorical_features)
    features, labels = features_and_target(frame, target)
    del frame
    if select is not None:
        features, labels = select(features, labels)
    features = conform(features, schema)
    release_freed_memory()
    return features, labels


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc; elsewhere nothing happens).

    Freed memory stays in the process until the allocator trims it, which it rarely does for the many
    small allocations of ONNX conversion and the arrays that tree fitting grows in its threads' own heaps.
    In the evaluate stage on 1,000,000 rows, 1.0 GiB of the 1.5 GiB the process held after the ONNX
    conversion was such memory, and each cross-validation fold left another 130 MiB; a trim gives it back.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    if "pyarrow" in sys.modules:  # pandas' text columns: pyarrow's own allocator keeps its freed memory
        sys.modules["pyarrow"].default_memory_pool().release_unused()


M_ARENA_MAX = -8  # glibc's mallopt parameter


def one_heap() -> None:
    """Have every thread allocate from one heap (glibc; elsewhere nothing happens), before threads start.

    glibc gives threads heaps of their own, and what a forest's fitting threads free in theirs stays
    scattered there: in the evaluate stage on 1,000,000 rows each cross-validation fold left about 25 MiB
    that `release_freed_memory` could not hand back (150 MiB over five folds), and none with one heap,
    the folds taking as long. The pipeline stages call this; the service, whose threads answer requests
    at once, does not.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 1)


@dataclass
class ServedFiles:
    """The skops bytes of the served model and its ONNX twin's bytes (None when there is none)."""

    skops: bytes
    skops_source: str
    onnx: bytes | None
    onnx_source: str


def files_at(skops: Path, onnx: Path | None = None) -> ServedFiles:
    """A skops file and its compiled twin when there is one (by default compiled/model.onnx beside it)."""
    onnx = onnx or skops.parent / ONNX_PATH.parent.name / ONNX_PATH.name
    twin = onnx.read_bytes() if onnx.exists() else None
    return ServedFiles(skops.read_bytes(), str(skops), twin, str(onnx))


def files_from_mlflow(uri: str) -> ServedFiles:
    """An MLflow model's skops file and the ONNX file logged beside it, when there is one."""
    try:
        import mlflow.artifacts  # noqa: F401 (the pipeline group, or mlflow-skinny, has it; the bento does not)
    except ImportError as error:
        raise ModelSourceError(
            f"MODEL_URI={uri} needs MLflow in this environment: add mlflow-skinny to the dependencies "
            "in pyproject.toml, or unset MODEL_URI to serve models/model.skops"
        ) from error
    from .tracking import download_model  # MLflow's side; it never imports this module

    with tempfile.TemporaryDirectory() as folder:
        skops = download_model(uri, Path(folder))
        onnx = skops.parent / ONNX_PATH.name
        return ServedFiles(
            skops.read_bytes(), uri, onnx.read_bytes() if onnx.exists() else None, f"{uri}/{ONNX_PATH.name}"
        )


def serving_files(uri: str | None, skops: Path = MODEL_PATH, onnx: Path = ONNX_PATH) -> ServedFiles:
    """The files of the model the service answers with (serving/settings.py gives the three).

    With a model URI (MODEL_URI, e.g. `models:/{{ cookiecutter.project_slug }}@champion`, or
    `runs:/<id>/model`), the model's files come from MLflow (its skops file, and the ONNX file logged
    beside it when there is one); otherwise the files `skops` (MODEL_PATH, default models/model.skops) and
    `onnx` (ONNX_MODEL_PATH, default models/compiled/model.onnx).
    """
    if uri:
        return files_from_mlflow(uri)
    return files_at(skops, onnx)


def serving_model(uri: str | None, skops: Path = MODEL_PATH, onnx: Path = ONNX_PATH) -> Pipeline:
    """The scikit-learn model the service answers with (see serving_files), its types checked."""
    files = serving_files(uri, skops, onnx)
    return load_model_bytes(files.skops, files.skops_source)
