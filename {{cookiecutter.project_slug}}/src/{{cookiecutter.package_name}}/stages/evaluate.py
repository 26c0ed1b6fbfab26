"""Stage evaluate: held-out and cross-validated metrics, importance, slices, plots and the model card,
attached to the MLflow run; the ONNX twin of the model when it answers like the model (compiled.py); the
held-out predictions the profile stage takes its prediction reference from."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd

from ..compiled import export
from ..config import load_params
from ..data import TEST_PATH, one_heap, release_freed_memory
from ..evaluation import trust
from ..evaluation.curves import write_curves
from ..metrics import answers, score
from ..model import read_split
from ..model_io import MODEL_PATH, ONNX_PATH, PARITY_PATH, load_model, read_run, save_predictions, sha256
from ..report import PLOTS_DIR, plot
from ..schema import RECORDS_FIELD, SCHEMA_PATH, Schema

METRICS_PATH = Path("reports/metrics.json")
REQUEST_EXAMPLE_PATH = Path("reports/request_example.json")
COMPILED_METRICS_PATH = Path("reports/compiled.json")  # the parity result, as DVC metrics


def write_request_example(features: pd.DataFrame, rows: int = 2) -> None:
    """Held-out rows as a `POST /predict` body: documents the request format of this very schema."""
    records = json.loads(features.head(rows).to_json(orient="records"))
    REQUEST_EXAMPLE_PATH.write_text(json.dumps({RECORDS_FIELD: records}, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    """In the order that keeps the peak low: cross-validation before the model and the held-out rows are
    in memory, the ONNX conversion before the held-out rows, MLflow imported at the end. On a
    1,000,000-row CSV each step then peaked under 4 times the file's size (scripts/growth.py)."""
    one_heap()
    params = load_params()
    schema = Schema.load(SCHEMA_PATH)
    spread = trust.cross_validation(params, schema)
    release_freed_memory()
    model = load_model(MODEL_PATH)
    release_freed_memory()  # what loading it freed: 80 MiB for the default forest fitted on 800,000 rows
    source = sha256(MODEL_PATH.read_bytes())
    # The held-out split as read (its other columns for slices), conformed, and its labels.
    held_out = functools.cache(functools.partial(read_split, TEST_PATH, schema, params.data.target))
    parity = export(
        model, schema, lambda: held_out()[1], source, params.compile.tolerance, params.compile.enabled
    )
    release_freed_memory()  # the conversion's many small allocations and ONNX Runtime's session
    print(f"evaluate: {parity.line()}")
    _, features, target = held_out()
    metrics = score(params.task, model, features, target)
    COMPILED_METRICS_PATH.write_text(json.dumps(parity.metrics(), indent=2) + "\n", encoding="utf-8")
    METRICS_PATH.parent.mkdir(parents=True, exist_ok=True)
    METRICS_PATH.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_request_example(features)
    save_predictions(answers(model, features))
    plots = plot(params.task, model, features, target, PLOTS_DIR)
    write_curves(params.task, model, features, target)  # DVC plot data; templates in dvc.yaml
    release_freed_memory()  # the predictions' matrices
    run = read_run()
    reports, crossval = trust.evaluate(params, schema, model, held_out(), metrics, spread, run, parity.line())
    release_freed_memory()  # before MLflow comes in
    from ..tracking import log_compiled, log_evaluation  # MLflow: 40 MiB, needed for this only

    log_evaluation(metrics | crossval | parity.metrics(), [METRICS_PATH, PARITY_PATH, *plots, *reports])
    if parity.compiled:
        log_compiled(ONNX_PATH)
    print("evaluate: " + ", ".join(f"{name}={value:.4f}" for name, value in metrics.items()))


if __name__ == "__main__":
    main()
