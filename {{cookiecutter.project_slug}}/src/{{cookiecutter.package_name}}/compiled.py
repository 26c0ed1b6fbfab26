"""The trained pipeline compiled to ONNX: conversion, the parity check, the arrays the compiled model takes.

The converted graph computes in float64 like scikit-learn (a float32 graph moves values across the trees'
thresholds: a forest's probabilities then differ by whole trees), with two inputs: the numeric features
as one float64 matrix and the others as one string matrix (input_layout in model_io.py). Missing values
are NaN and "" there; the imputers are converted by `_convert_imputer` below, which reads them so.
Conversion needs skl2onnx (the pipeline group); the service needs onnxruntime only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from .data import release_freed_memory
from .metrics import PREDICT_CHUNK, answers
from .model_io import LAYOUT_KEY, ONNX_PATH, PARITY_PATH, SOURCE_KEY, input_layout, onnx_session, save_onnx
from .schema import Schema

MISSING_TEXT = ""  # how a missing categorical value enters the compiled model


@dataclass
class Parity:
    """What `export` found: parity held (and model.onnx was written), or the reason there is no ONNX."""

    compiled: bool
    rows: int = 0
    max_difference: float | None = None  # probabilities (absolute) or predictions (relative)
    labels_differing: int = 0
    tolerance: float | None = None
    reason: str = ""

    def line(self) -> str:
        if self.compiled:
            return (
                f"compiled to ONNX ({ONNX_PATH}), parity with the pipeline holds on {self.rows} rows: max "
                f"difference {self.max_difference:.2e} (tolerance {self.tolerance:.0e})"
            )
        return f"not compiled, the service and `make predict` use the scikit-learn model: {self.reason}"

    def metrics(self) -> dict[str, float]:
        """For reports/compiled.json and the MLflow run: numbers only (DVC shows and diffs them)."""
        numbers = {"onnx_parity": float(self.compiled), "onnx_parity_rows": float(self.rows)}
        if self.max_difference is not None:
            numbers["onnx_parity_max_difference"] = float(self.max_difference)
        return numbers


def arrays(frame: pd.DataFrame, layout: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """A conformed frame (schema.conform) as the compiled model's inputs."""
    feeds = {}
    if "numeric" in layout:
        feeds["numeric"] = frame[layout["numeric"]].to_numpy(dtype=np.float64, na_value=np.nan)
    if "text" in layout:
        text = frame[layout["text"]].astype(object)
        feeds["text"] = text.where(text.notna(), MISSING_TEXT).to_numpy(dtype=object).astype(str)
    return feeds


def probe_frame(schema: Schema) -> pd.DataFrame:
    """Rows at the edges of the schema: each bound and the middle of every numeric range, each category,
    and a missing value in every nullable column (the held-out split may have none)."""
    rows: list[dict] = []
    features = schema.features
    width = max([3, *(len(c.categories or []) for c in features)]) + 1
    for index in range(width):
        row: dict = {}
        for column in features:
            if column.nullable and index == width - 1:
                row[column.name] = None
            elif column.numeric:
                low, high = column.minimum or 0.0, column.maximum if column.maximum is not None else 1.0
                row[column.name] = [low, (low + high) / 2, high][index % 3]
            elif column.categories:
                row[column.name] = column.categories[index % len(column.categories)]
            else:
                row[column.name] = f"text {index}"
        rows.append(row)
    from .schema import conform

    return conform(pd.DataFrame(rows), schema)


def outputs(session, feeds: dict[str, np.ndarray], classification: bool) -> np.ndarray:
    """Probabilities (classification) or predictions (regression) of the compiled model."""
    result = session.run(None, feeds)
    return np.asarray(result[1] if classification else result[0], dtype=np.float64).reshape(
        len(next(iter(feeds.values()))), -1
    )


# Rows per model call when checking parity, as when a split is scored: ONNX Runtime's allocator keeps what
# the largest call needed (one call on the 200,000 held-out rows of a 1,000,000-row CSV took 300 MiB more
# than the stage had), and scikit-learn's transform of 200,000 rows held 116 MiB more than that of 20,000.
PARITY_CHUNK = PREDICT_CHUNK


def compare(model, session, frame: pd.DataFrame | list[pd.DataFrame], layout, tolerance: float) -> Parity:
    """Parity of the compiled model with `model` on `frame`, or on every row of a list of frames (see
    `agreement`)."""
    classification = hasattr(model, "predict_proba")
    method = "predict_proba" if classification else "predict"
    frames = frame if isinstance(frame, list) else [frame]
    parts = [f.iloc[start : start + PARITY_CHUNK] for f in frames for start in range(0, len(f), PARITY_CHUNK)]
    got = np.concatenate([outputs(session, arrays(part, layout), classification) for part in parts])
    expected = np.concatenate(
        [np.asarray(answers(model, f, method, PARITY_CHUNK)).reshape(len(f), -1) for f in frames]
    )
    return agreement(expected, got, classification, tolerance)


def agreement(expected: np.ndarray, got: np.ndarray, classification: bool, tolerance: float) -> Parity:
    """Classification: probabilities within `tolerance` and the same label where the label is decided (a
    row whose two highest probabilities are within the tolerance is a tie, e.g. a forest of 20 trees split
    10/10: either label is the model's answer). Regression: predictions within `tolerance` of the largest
    prediction's magnitude."""
    got = np.asarray(got, dtype=np.float64).reshape(len(expected), -1)
    expected = np.asarray(expected, dtype=np.float64).reshape(len(got), -1)
    differing = 0
    if classification:
        top = np.sort(expected, axis=1)
        decided = top[:, -1] - top[:, -2] > 2 * tolerance if top.shape[1] > 1 else np.ones(len(top), bool)
        differing = int((decided & (expected.argmax(axis=1) != got.argmax(axis=1))).sum())
        difference = float(np.abs(got - expected).max())
    else:
        difference = float(np.abs(got - expected).max() / max(float(np.abs(expected).max()), 1e-12))
    held = differing == 0 and difference <= tolerance
    reason = "" if held else (
        f"parity failed on {len(got)} rows: {differing} labels differ, max difference {difference:.2e} "
        f"(tolerance {tolerance:.0e})"
    )  # fmt: skip
    return Parity(held, len(got), difference, differing, tolerance, reason)


def _convert_imputer(scope, operator, container) -> None:
    """SimpleImputer as Where(missing, statistics, x), in the input's own type: float64 (skl2onnx's own
    converter emits ONNX's Imputer, which exists for float32 only) and strings (where it expects the
    missing marker to be a string; the pipeline's categorical imputer looks for NaN, sent as "")."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from skl2onnx.operator_converters.common import concatenate_variables

    imputer = operator.raw_operator
    source = concatenate_variables(scope, operator.inputs, container)
    kind = operator.inputs[0].type
    fill = scope.get_unique_variable_name("fill")
    missing = scope.get_unique_variable_name("missing")
    width = [1, len(imputer.statistics_)]
    if isinstance(kind, StringTensorType):
        container.add_initializer(fill, TensorProto.STRING, width, [str(v) for v in imputer.statistics_])
        flags = scope.get_unique_variable_name("flags")  # Equal takes strings from opset 19 only
        container.add_node(
            "LabelEncoder", [source], [flags], op_domain="ai.onnx.ml", op_version=2,
            keys_strings=[MISSING_TEXT], values_int64s=[1], default_int64=0,
        )  # fmt: skip
        container.add_node("Cast", [flags], [missing], to=TensorProto.BOOL)
    else:
        proto = TensorProto.DOUBLE if isinstance(kind, DoubleTensorType) else TensorProto.FLOAT
        container.add_initializer(fill, proto, width, imputer.statistics_.astype(float).tolist())
        container.add_node("IsNaN", [source], [missing])
    container.add_node("Where", [missing, fill, source], [operator.outputs[0].full_name])


def _add_node_with_int_flags(add_node):
    """skl2onnx (1.20) passes False for a leaf's missing-value flag of a histogram gradient boosting tree,
    which protobuf 7 refuses in an integer list; the flag as an int is what ONNX expects."""

    def add(*args, nodes_missing_value_tracks_true=0, **kwargs):
        return add_node(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    return add


def convert(model, schema: Schema, source_sha256: str) -> bytes:
    """The fitted pipeline as an ONNX model taking `input_layout(schema)`; skl2onnx's error if it cannot."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common import tree_ensemble
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
    from skl2onnx.sklapi import CastTransformer
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    layout = input_layout(schema)
    if MISSING_TEXT in {c for column in schema.features for c in (column.categories or [])}:
        raise ValueError(f"a category is {MISSING_TEXT!r}, which the compiled model reads as missing")
    position = {name: i for i, name in enumerate(layout.get("numeric", []) + layout.get("text", []))}
    # The column transformer selects columns by name; the graph's inputs are two matrices, so a copy of it
    # selects them by position in those (skl2onnx counts positions across its inputs in order). The other
    # steps are the model's own, not copies: conversion only reads them. A copy of the default forest
    # fitted on 800,000 rows held 212 MiB, and the conversion's peak was 98 MiB higher with it.
    features = copy.deepcopy(model.named_steps["features"])
    features.transformers_ = [
        (name, step, cols if isinstance(step, str) else [position[c] for c in cols])
        for name, step, cols in features.transformers_
    ]
    twin = Pipeline([(name, features if name == "features" else step) for name, step in model.steps])
    estimator = twin.named_steps["model"]
    if isinstance(estimator, BaseForest | BaseHistGradientBoosting):
        # Trees take float32 in ONNX Runtime (its double tree ensembles answer float32 where skl2onnx
        # declares float64). A forest compares float32 values in scikit-learn too (it casts its input), so
        # the cast is exact there; gradient boosting compares float64, so parity decides.
        twin.steps[-1:-1] = [("float32", CastTransformer(dtype=np.float32).fit(np.zeros((1, 1))))]
    types = {"numeric": DoubleTensorType, "text": StringTensorType}
    initial = [(name, types[name]([None, len(columns)])) for name, columns in layout.items()]
    options = {id(twin.named_steps["model"]): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    with mock.patch.object(tree_ensemble, "add_node", _add_node_with_int_flags(tree_ensemble.add_node)):
        onnx_model = convert_sklearn(
            twin,
            initial_types=initial,
            options=options,
            target_opset={"": 18, "ai.onnx.ml": 3},
            # skl2onnx's removal of Identity nodes rebuilds the graph, copying the forest's node: 110 MiB
            # more at the peak for the default forest fitted on 800,000 rows. ONNX Runtime removes them
            # itself when it builds its session.
            model_optim=False,
            custom_conversion_functions={SimpleImputer: _convert_imputer},
            custom_shape_calculators={SimpleImputer: calculate_sklearn_imputer_output_shapes},
        )
    _stamp(onnx_model, {SOURCE_KEY: source_sha256, LAYOUT_KEY: json.dumps(layout)})
    return onnx_model.SerializeToString()


def _stamp(onnx_model, values: dict[str, str]) -> None:
    """Set metadata keys of an ONNX model (a key already there takes the new value)."""
    kept = [entry for entry in onnx_model.metadata_props if entry.key not in values]
    del onnx_model.metadata_props[:]
    for key, value in [*((entry.key, entry.value) for entry in kept), *values.items()]:
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value


def bound_to(data: bytes, source_sha256: str) -> bytes:
    """The ONNX file `data` bound to another skops file of the same model: MLflow writes its own skops file
    when it logs the model (other bytes, the same pipeline), and the twin logged beside it must name that
    file's SHA-256, or a model loaded by alias would refuse its compiled twin.

    Only the metadata is parsed (`_metadata_message`); the graph is carried as bytes. Parsing the whole
    model and writing it again peaked 120 MiB higher for the default forest fitted on 800,000 rows."""
    model = _metadata_message()()
    model.ParseFromString(data)
    _stamp(model, {SOURCE_KEY: source_sha256})
    return model.SerializeToString()


def _metadata_message():
    """A protobuf message with ONNX ModelProto's metadata_props (field 14: key 1, value 2) and no other
    field: parsing a model into it keeps every other field as raw bytes, written back unchanged."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="onnx_metadata.proto", package="onnx_metadata")
    entry = file.message_type.add(name="Entry")
    entry.field.add(name="key", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    model = file.message_type.add(name="Model")
    model.field.add(
        name="metadata_props", number=14, type=field.TYPE_MESSAGE, label=field.LABEL_REPEATED,
        type_name=".onnx_metadata.Entry",
    )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("onnx_metadata.Model"))


def export(
    model, schema: Schema, held_out: pd.DataFrame | Callable[[], pd.DataFrame], source_sha256: str,
    tolerance: float, enabled: bool = True, path: Path = ONNX_PATH, report: Path = PARITY_PATH,
) -> Parity:  # fmt: skip
    """Convert, check parity on the held-out rows and the schema's edge rows, and write `path` only when
    parity holds (removing an older one otherwise); the result goes to `report` either way.

    `held_out` may be a function giving the rows, called once the conversion is done and ONNX Runtime's
    session built: their peaks (260 and 195 MiB for the default forest fitted on 800,000 rows) then come
    before the rows are read, not on top of them."""
    path.unlink(missing_ok=True)
    if not enabled:
        parity = Parity(False, reason="compile.enabled is false in params.yaml")
    else:
        try:
            data = convert(model, schema, source_sha256)
            release_freed_memory()  # skl2onnx's lists
            session = onnx_session(data)
            release_freed_memory()  # what building the session freed: 100 MiB of 173 for that forest
            rows = held_out() if callable(held_out) else held_out
            parity = compare(model, session, [rows, probe_frame(schema)], input_layout(schema), tolerance)
        except Exception as error:  # skl2onnx raises many kinds; the reason is what matters here
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            parity = Parity(False, reason=f"conversion failed: {type(error).__name__}: {first[:300]}")
        else:
            if parity.compiled:
                save_onnx(data, path)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(asdict(parity), indent=2) + "\n", encoding="utf-8")
    return parity


def read_parity(report: Path = PARITY_PATH) -> Parity | None:
    if not report.exists():
        return None
    return Parity(**json.loads(report.read_text(encoding="utf-8")))
