"""Saving and loading model files: the skops pipeline (trusted types only), its ONNX twin, the record of
the run that trained it and its held-out predictions. No MLflow; skops and ONNX Runtime are imported where
they are used, so a stage that reads only the small files (profile) does not pay for them.

The ONNX file carries, in its metadata, the SHA-256 of the skops file it was converted from and the
layout of its inputs, so a file that belongs to another model, or was edited, is refused when loaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MODEL_PATH = Path("models/model.skops")
COMPILED_DIR = Path("models/compiled")
ONNX_PATH = COMPILED_DIR / "model.onnx"  # written only when parity with the skops model holds
PARITY_PATH = COMPILED_DIR / "parity.json"  # always written: the parity result, or why there is no ONNX
RUN_PATH = Path("models/run.json")  # the MLflow run (and commit) the model was trained in (train writes it)
# What the model predicts on the held-out split (evaluate writes it): the profile's prediction reference.
HELDOUT_PREDICTIONS_PATH = Path("models/heldout_predictions.json")

# The only types a saved model may contain beyond skops' defaults. Loading refuses anything else,
# so a tampered or foreign file cannot run code (no unchecked pickle anywhere).
TRUSTED_TYPES = [
    "numpy.dtype",
    "numpy.median",  # the numeric imputer's statistic (features.NUMERIC_IMPUTERS)
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]
# Keys of the ONNX file's metadata (metadata_props) that bind it to its skops model and its inputs.
SOURCE_KEY = "source_sha256"
LAYOUT_KEY = "input_layout"


class UntrustedModelError(RuntimeError):
    """The model file holds types outside TRUSTED_TYPES."""


class ModelSourceError(RuntimeError):
    """MODEL_URI names a model that cannot be loaded safely here."""


class CompiledModelMismatchError(RuntimeError):
    """The ONNX file is not the compiled form of the skops model being served."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(model, path: Path = MODEL_PATH) -> None:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)


def load_model_bytes(data: bytes, source: Path | str = MODEL_PATH):
    """A skops model from its bytes, refusing any type outside TRUSTED_TYPES (never a pickle)."""
    import skops.io as sio

    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedModelError(f"{source} contains types that are not trusted: {untrusted}")
    return sio.loads(data, trusted=TRUSTED_TYPES)


def load_model(path: Path = MODEL_PATH):
    """Load a skops file, refusing any type outside TRUSTED_TYPES (never a pickle)."""
    return load_model_bytes(path.read_bytes(), path)  # read once: what is checked is what is loaded


def read_run(path: Path = RUN_PATH) -> dict:
    """models/run.json: run_id, model_uri, model_id, tracking_uri and git_commit of the training run."""
    return json.loads(path.read_text(encoding="utf-8"))


def save_predictions(predictions, path: Path = HELDOUT_PREDICTIONS_PATH) -> None:
    """The model's predictions as a JSON list: labels keep their type, floats round-trip exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"predictions": predictions.tolist()}) + "\n", encoding="utf-8")


def load_predictions(path: Path = HELDOUT_PREDICTIONS_PATH) -> list:
    return json.loads(path.read_text(encoding="utf-8"))["predictions"]


def save_onnx(data: bytes, path: Path = ONNX_PATH) -> None:
    """Write beside and rename: a reader never opens half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(path)


def onnx_session(data: bytes, threads: int = 1):
    """An ONNX Runtime session on `data`, on the CPU, with `threads` threads (one: the service's workers
    are the parallelism, and a batch of a few rows gains nothing from more)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: a refused file is reported by the caller, in one line
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def input_layout(schema) -> dict[str, list[str]]:
    """Input name -> the feature columns it holds, in schema order (an input with no column is left out)."""
    layout = {"numeric": schema.numeric_features, "text": schema.categorical_features}
    return {name: columns for name, columns in layout.items() if columns}


def load_onnx(path: Path, source_sha256: str, layout: dict[str, list[str]], threads: int = 1):
    return load_onnx_bytes(path.read_bytes(), str(path), source_sha256, layout, threads)


def load_onnx_bytes(
    data: bytes, path: str, source_sha256: str, layout: dict[str, list[str]], threads: int = 1
):
    """A session on the ONNX model `data` (from `path`), if it was converted from the skops file whose
    SHA-256 is `source_sha256` and takes the inputs `layout` describes; CompiledModelMismatchError naming the
    first mismatch otherwise (a file that does not parse is a mismatch too)."""
    try:
        session = onnx_session(data, threads)
    except Exception as error:  # onnxruntime raises its own kinds for a file it cannot read
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CompiledModelMismatchError(f"{path} is not a readable ONNX model: {first[:200]}") from None
    metadata = session.get_modelmeta().custom_metadata_map
    if metadata.get(SOURCE_KEY) != source_sha256:
        raise CompiledModelMismatchError(
            f"{path} was converted from another model (its source SHA-256 "
            f"{metadata.get(SOURCE_KEY, 'is missing')[:12]}, the served skops file's {source_sha256[:12]})"
        )
    if json.loads(metadata.get(LAYOUT_KEY, "{}")) != layout:
        raise CompiledModelMismatchError(f"{path} declares other inputs than the schema's features")
    inputs = {item.name: (item.type, item.shape[1]) for item in session.get_inputs()}
    expected = {name: (ONNX_TYPES[name], len(columns)) for name, columns in layout.items()}
    if inputs != expected:
        raise CompiledModelMismatchError(
            f"{path} takes inputs {inputs}, the schema's features are {expected}"
        )
    return session


# The two inputs of a compiled model: the numeric features as one float64 matrix, the others as one string
# matrix (a missing value is NaN in the first, "" in the second).
ONNX_TYPES = {"numeric": "tensor(double)", "text": "tensor(string)"}
