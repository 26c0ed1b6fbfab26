"""Stage evaluate: held-out and cross-validated metrics, importance, slices, plots and the model card,
attached to the MLflow run; the ONNX twin of the model when it answers like the model (compiled.py); the
held-out predictions the profile stage takes its prediction reference from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..compiled import export
from ..config import load_params
from ..data import TEST_PATH, features_and_target, read_frame
from ..evaluation import trust
from ..evaluation.curves import write_curves
from ..metrics import score
from ..model import one_heap, release_freed_memory
from ..model_io import MODEL_PATH, ONNX_PATH, PARITY_PATH, load_model, read_run, save_predictions, sha256
from ..report import PLOTS_DIR, plot
from ..schema import RECORDS_FIELD, SCHEMA_PATH, Schema, conform
from ..tracking import log_compiled, log_evaluation

METRICS_PATH = Path("reports/metrics.json")
REQUEST_EXAMPLE_PATH = Path("reports/request_example.json")
COMPILED_METRICS_PATH = Path("reports/compiled.json")  # the parity result, as DVC metrics


def write_request_example(features: pd.DataFrame, rows: int = 2) -> None:
    """Held-out rows as a `POST /predict` body: documents the request format of this very schema."""
    records = json.loads(features.head(rows).to_json(orient="records"))
    REQUEST_EXAMPLE_PATH.write_text(json.dumps({RECORDS_FIELD: records}, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    one_heap()
    params = load_params()
    schema = Schema.load(SCHEMA_PATH)
    model = load_model(MODEL_PATH)
    test = read_frame(TEST_PATH, text=schema.categorical_features)  # as train reads its split
    features, target = features_and_target(test, params.data.target)
    features = conform(features, schema)
    release_freed_memory()  # loading the model and reading the split, before the conversion's peak
    metrics = score(params.task, model, features, target)
    source = sha256(MODEL_PATH.read_bytes())
    parity = export(model, schema, features, source, params.compile.tolerance, params.compile.enabled)
    release_freed_memory()  # the conversion's many small allocations, before cross-validation fits again
    print(f"evaluate: {parity.line()}")
    COMPILED_METRICS_PATH.write_text(json.dumps(parity.metrics(), indent=2) + "\n", encoding="utf-8")
    METRICS_PATH.parent.mkdir(parents=True, exist_ok=True)
    METRICS_PATH.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_request_example(features)
    save_predictions(model.predict(features))
    plots = plot(params.task, model, features, target, PLOTS_DIR)
    write_curves(params.task, model, features, target)  # DVC plot data; templates in dvc.yaml
    release_freed_memory()  # the predictions' matrices, before the training split is read
    reports, crossval = trust.evaluate(params, schema, model, test, metrics, read_run(), parity.line())
    log_evaluation(metrics | crossval | parity.metrics(), [METRICS_PATH, PARITY_PATH, *plots, *reports])
    if parity.compiled:
        log_compiled(ONNX_PATH)
    print("evaluate: " + ", ".join(f"{name}={value:.4f}" for name, value in metrics.items()))


if __name__ == "__main__":
    main()
