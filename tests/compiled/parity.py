"""Run inside a baked project's environment by tests/test_lifecycle.py: the compiled model's parity for
several bakes of the same package in one process, each with its own params.yaml and data.

    python parity.py <package> <project> [<project> ...]

For each project, in its own folder: the prepare and validate stages themselves, the train stage's fit
(its MLflow logging left out), the model saved and loaded back as skops, then the evaluate stage's
`export` (convert to ONNX, check parity on the held-out split and the schema's edge rows, write
models/compiled/parity.json and, when parity holds, model.onnx). Prints one JSON object on its last line:
project -> its parity report.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import asdict


def main(package: str, projects: list[str]) -> dict:
    import pandas as pd

    def module(name: str):
        return importlib.import_module(f"{package}.{name}")

    prepare, validate = module("stages.prepare"), module("stages.validate")
    config, data, model, model_io, schemas = (
        module(name) for name in ("config", "data", "model", "model_io", "schema")
    )
    export = module("compiled").export
    results = {}
    for project in projects:
        os.chdir(project)
        prepare.main()
        if validate.main():
            raise SystemExit(f"{project}: validate failed")
        params = config.load_params()
        schema = schemas.Schema.load(schemas.SCHEMA_PATH)

        def split(path, params=params, schema=schema):
            features, target = data.features_and_target(pd.read_csv(path), params.data.target)
            return schemas.conform(features, schema), target

        fitted = model.build_pipeline(params, schema).fit(*split(data.TRAIN_PATH))
        model_io.save_model(fitted, model_io.MODEL_PATH)
        loaded = model_io.load_model(model_io.MODEL_PATH)
        source = model_io.sha256(model_io.MODEL_PATH.read_bytes())
        held_out, _ = split(data.TEST_PATH)
        parity = export(loaded, schema, held_out, source, params.compile.tolerance, params.compile.enabled)
        results[project] = asdict(parity) | {"onnx_written": model_io.ONNX_PATH.exists()}
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
