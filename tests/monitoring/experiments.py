"""Run inside a baked project's environment by tests/test_drift.py: data, prediction records and the
drift experiments of the targets, computed in-process with the project's own library.

    python experiments.py data <csv> <rows>                     a learnable CSV: 29 numbers, a category
    python experiments.py record <package> <sink> <source> <rows> [<column> <sd>]
        serve <rows> rows drawn from <source> (raw|held_out) through the real Predictor and Recorder into
        the prediction record at <sink>, <column> shifted by <sd> training standard deviations; writes
        <sink>.labels.csv (prediction_id, target) beside it
    python experiments.py windows <package> <windows> <size>    the false-alarm and detection experiments
Each prints one JSON object on its last line.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORY, SHARES = "channel", {"web": 0.4, "store": 0.3, "phone": 0.2, "mail": 0.1}
GROWING = "mail"  # the category whose share grows by 20 points


def write_data(path: str, rows: int) -> dict:
    from sklearn.datasets import make_classification

    features, label = make_classification(
        n_samples=rows, n_features=29, n_informative=6, n_redundant=4, random_state=3
    )
    frame = pd.DataFrame(features.round(5), columns=[f"x{i:02d}" for i in range(29)])
    rng = np.random.default_rng(3)
    frame[CATEGORY] = rng.choice(list(SHARES), size=rows, p=list(SHARES.values()))
    frame["label"] = np.where(label == 1, "yes", "no")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return {"rows": rows, "columns": len(frame.columns)}


def modules(package: str) -> dict:
    names = ("config", "schema", "data", "model", "monitoring.drift", "predict", "serving.record")
    return {name: importlib.import_module(f"{package}.{name}") for name in names}


def write_record(package: str, sink: str, source: str, rows: int, column: str = "", sd: float = 0.0) -> dict:
    m = modules(package)
    params = m["config"].load_params()
    schema = m["schema"].Schema.load()
    target = params.data.target
    table = pd.read_csv(m["data"].RAW_PATH if source == "raw" else m["data"].TEST_PATH)
    chosen = table if rows == len(table) else table.sample(rows, replace=True, random_state=5)
    chosen = chosen.reset_index(drop=True)
    if column:
        spread = pd.read_csv(m["data"].TRAIN_PATH)[column].std()
        chosen[column] = chosen[column] + sd * spread
    features = chosen.drop(columns=[target])
    sent = json.loads(features.to_json(orient="records"))
    predictor = m["predict"].Predictor()
    recorder = m["serving.record"].Recorder(
        sink, params.monitor, schema=schema, version="v-test", batch_rows=5000, max_queued_rows=rows + 1
    )
    ids = []
    for start in range(0, rows, 1000):
        typed = [m["predict"].Record.model_validate(record) for record in sent[start : start + 1000]]
        recorder.submit(f"req{start}", typed, predictor.infer(typed))
        ids += [f"req{start}-{index}" for index in range(len(typed))]
    recorder.close()
    pd.DataFrame({"prediction_id": ids, target: chosen[target]}).to_csv(f"{sink}.labels.csv", index=False)
    return {"written": recorder.written, "dropped": recorder.dropped}


def windows(package: str, count: int, size: int) -> dict:
    """Disjoint windows of the held-out split: clean, one number shifted by +0.5 sd, one category's share
    grown by 20 points; how many windows each judged drifted, and how many named the changed column."""
    m = modules(package)
    params = m["config"].load_params()
    schema = m["schema"].Schema.load()
    target, config = params.data.target, params.monitor.drift
    conform = m["schema"].conform
    train = conform(pd.read_csv(m["data"].TRAIN_PATH), schema)
    held_out = conform(pd.read_csv(m["data"].TEST_PATH), schema)
    model = m["model"].load_model()
    reference_predictions = pd.Series(model.predict(held_out))
    numeric = schema.numeric_features[0]
    spread = train[numeric].std()
    rng = np.random.default_rng(11)
    order = rng.permutation(len(held_out))
    if count * size > len(held_out):
        raise SystemExit(f"{count} windows of {size} need {count * size} held-out rows, not {len(held_out)}")

    def judge(window: pd.DataFrame) -> list[str]:
        window = window.assign(prediction=model.predict(window[held_out.columns]))
        result = m["monitoring.drift"].compare(schema, train, window, reference_predictions, True, config)
        return result.drifted

    tallies = {"clean": [], "numeric": [], "category": []}
    for index in range(count):
        window = held_out.iloc[order[index * size : (index + 1) * size]].reset_index(drop=True)
        tallies["clean"].append(judge(window))
        tallies["numeric"].append(judge(window.assign(**{numeric: window[numeric] + 0.5 * spread})))
        grown = window.copy()
        others = np.flatnonzero(grown[CATEGORY].to_numpy() != GROWING)
        grown.loc[rng.choice(others, size=round(0.2 * size), replace=False), CATEGORY] = GROWING
        tallies["category"].append(judge(grown))
    return {
        "target": target,
        "numeric_column": numeric,
        "false_alarms": sum(bool(drifted) for drifted in tallies["clean"]),
        "numeric_found": sum(numeric in drifted for drifted in tallies["numeric"]),
        "category_found": sum(CATEGORY in drifted for drifted in tallies["category"]),
        "windows": tallies,
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "data":
        outcome = write_data(args[0], int(args[1]))
    elif command == "record":
        package, sink, source, rows, *shift = args
        outcome = write_record(package, sink, source, int(rows), shift[0] if shift else "",
                               float(shift[1]) if shift else 0.0)  # fmt: skip
    else:
        outcome = windows(args[0], int(args[1]), int(args[2]))
    print(json.dumps(outcome))
