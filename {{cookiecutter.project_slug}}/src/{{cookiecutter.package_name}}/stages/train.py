"""Stage train: fit the Pipeline from params.yaml on the training split, save it, log it to MLflow."""

from __future__ import annotations

from ..config import load_params
from ..data import TRAIN_PATH, file_digest, one_heap
from ..metrics import score
from ..model import (
    MODEL_PATH,
    build_pipeline,
    fit_estimator,
    fit_preprocessing,
    read_training_split,
    rows_per_tree,
    save_model,
)
from ..schema import SCHEMA_PATH, Schema


def main() -> None:
    one_heap()
    params = load_params()
    schema = Schema.load(SCHEMA_PATH)
    features, target = read_training_split(schema, params.data.target)
    rows, example = len(features), features.head(5)
    model = rows_per_tree(build_pipeline(params, schema), rows)
    # The frame goes once the preprocessing has made the estimator's input from it: on 800,000 rows the
    # forest then grows with 92 MiB of float32 data in memory instead of the frame and two matrices.
    matrix = fit_preprocessing(model, features)
    del features
    fit_estimator(model, matrix, target)
    save_model(model, MODEL_PATH)
    # Scored on the estimator's input, which is what the pipeline would make of the frame again.
    train_metrics = score(params.task, model[-1], matrix, target)
    del matrix
    # MLflow is imported once the fit is done: it holds 40 MiB more through every step before.
    from ..tracking import log_training

    run_id = log_training(
        model,
        params.model_dump(mode="json", by_alias=True),
        input_example=example,
        data_hash=file_digest(TRAIN_PATH),
        train_metrics=train_metrics,
    )
    print(f"train: {params.model.name} fitted on {rows} rows; MLflow run {run_id}")


if __name__ == "__main__":
    main()
