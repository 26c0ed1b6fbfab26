"""The estimator chosen in params.yaml, wrapped with the preprocessing into one Pipeline, and where the
served model's files come from (a local file, or MLflow); model_io.py reads and writes the files."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from .config import GradientBoostingConfig, LinearConfig, ModelConfig, Params, RandomForestConfig
from .data import TRAIN_PATH, features_and_target, read_frame, release_freed_memory
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


# Rows the fitted preprocessing transforms at a time, on a training split of more (fit_preprocessing).
FIT_CHUNK = 100_000


def fit_preprocessing(pipeline, features, chunk: int = FIT_CHUNK):
    """Fit the pipeline's steps before its estimator on `features`; the estimator's input made from them,
    in the type the estimator computes in (a forest casts its input to float32: cast here, so the trees
    grow without a float64 copy), so that `fit_estimator` on it fits what `pipeline.fit(features, ...)`
    would.

    On more than `chunk` rows the column transformer is fitted a step at a time (`_fit_in_chunks`) and its
    output written `chunk` rows at a time: `fit_transform` holds every branch's full output, the
    categorical branch's text copies and the joined matrix at once. On 800,000 rows of 20 numeric and 10
    categorical columns its peak was 430 MiB above the frame, against 170 MiB this way."""
    if not isinstance(pipeline, Pipeline):
        return features
    forest = isinstance(_estimator(pipeline), RandomForestClassifier | RandomForestRegressor)
    dtype = np.float32 if forest else None
    steps = pipeline[:-1]
    matrix = None
    if len(steps) == 1 and isinstance(steps[0], ColumnTransformer) and len(features) > chunk:
        matrix = _fit_in_chunks(steps[0], features, dtype or np.float64, chunk)
    if matrix is None:
        matrix = steps.fit_transform(features)
        if dtype is not None:
            matrix = matrix.astype(dtype)
    return matrix


def _fit_in_chunks(preprocessor: ColumnTransformer, features, dtype, chunk: int):
    """Fit `preprocessor` on `features` as `fit` would, and return its output in `dtype`, made `chunk`
    rows at a time; None, and `preprocessor` to be fitted the usual way, when the output's columns depend
    on more rows than the first chunk (a category missing there, a column all missing there).

    The first chunk fits the transformer's structure (its columns and branches); each branch is then
    refitted on every row (`_fit_branch`), which gives the statistics `fit` gives (a median, the most
    frequent value, the categories; a scaler's mean and variance summed up chunk by chunk, equal to within
    rounding)."""
    with warnings.catch_warnings():  # e.g. a column with no value there: said by the fit that counts
        warnings.simplefilter("ignore")
        preprocessor.fit(features.iloc[:chunk])
    release_freed_memory()
    for _, branch, columns in preprocessor.transformers_:
        if isinstance(branch, str):  # "drop" or "passthrough"
            continue
        names = list(branch.get_feature_names_out())
        _fit_branch(branch, features[columns], chunk)
        release_freed_memory()
        if list(branch.get_feature_names_out()) != names:
            return None
    matrix = np.empty((len(features), len(preprocessor.get_feature_names_out())), dtype)
    for start in range(0, len(features), chunk):
        matrix[start : start + chunk] = preprocessor.transform(features.iloc[start : start + chunk])
    return matrix


def _fit_branch(branch, frame, chunk: int) -> None:
    """Fit a branch (a Pipeline, or one transformer) on `frame`: a step that learns in parts
    (`partial_fit`, e.g. StandardScaler) from `chunk` rows at a time of what the steps before it make, the
    others from all of it (the steps before them applied to the whole frame)."""
    if not isinstance(branch, Pipeline):
        branch.fit(frame)
        return
    for index, (name, step) in enumerate(branch.steps):
        before = [done for _, done in branch.steps[:index]]
        if hasattr(step, "partial_fit"):
            step = clone(step)  # partial_fit adds to what the first chunk's fit learned
            for start in range(0, len(frame), chunk):
                step.partial_fit(_through(before, frame.iloc[start : start + chunk]))
            branch.steps[index] = (name, step)
        elif isinstance(step, SimpleImputer) and step.copy:
            # Its fit only reads the matrix it makes of the frame, and with copy=True copies that matrix.
            step.set_params(copy=False)
            try:
                step.fit(_through(before, frame))
            finally:
                step.set_params(copy=True)
        else:
            step.fit(_through(before, frame))


def _through(steps, data):
    for step in steps:
        data = step.transform(data)
    return data


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


def read_split(path: Path, schema: Schema, target: str, select=None):
    """A split as read, its features conformed to the schema, and its labels: read in chunks with
    categories as categoricals (on 800,000 rows of 30 columns the train stage's peak was 195 MiB lower
    than with one read of the file by pandas, which holds text as a string a row). `select(features,
    labels)` may keep some of the rows before they are conformed; the file's frame is then dropped first
    (None is returned for it). What reading freed is handed back before the caller's arrays are made."""
    frame = read_frame(path, text=schema.categorical_features)
    features, labels = features_and_target(frame, target)
    if select is not None:
        frame = None
        features, labels = select(features, labels)
    features = conform(features, schema)
    release_freed_memory()
    return frame, features, labels


def read_training_split(schema: Schema, target: str, select=None):
    """The training split's features, conformed to the schema, and its labels (`read_split`)."""
    _, features, labels = read_split(TRAIN_PATH, schema, target, select)
    return features, labels


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
