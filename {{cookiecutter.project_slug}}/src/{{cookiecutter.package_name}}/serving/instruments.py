"""The model's own metrics on /metrics: what it was asked, what it answered, what it refused.

Bounded in cardinality whatever the traffic: every label value comes from the schema, the training
profile (models/profile.json) or a fixed list. Counting is vectorised per model call (numpy: one
comparison of the batch with every feature's decile edges, one bincount) into arrays of this worker, and
a thread adds what changed to prometheus_client's multiprocess values once a second (MODEL_METRICS_FLUSH_S).
Writing those values costs 1-2 µs each (a lock and an mmap write): per value, 30 features cost ~170 µs
per single-record request; counted in numpy first, ~20 µs (docs/decisions.md). MODEL_METRICS=0 turns it
all off.

prometheus_client is imported only in `start`: BentoML sets PROMETHEUS_MULTIPROC_DIR in each worker after
importing the service, and the library picks its multiprocess mode when it is first imported.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from ..monitoring.profile import load_profile
from ..schema import Schema, feature_values, numeric_matrix
from .tallies import Buckets, FeatureHistograms, Tally

if TYPE_CHECKING:
    from .settings import ServingSettings

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# A refused value's pydantic error type -> the schema rule it breaks (schema.py checks the same rules on
# training data). A type error on null is a missing value; on a whole-number column, 3.5 is not whole.
RULES = {
    "missing": "missing_column",
    "extra_forbidden": "unknown_column",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "finite_number": "not_finite",
    "literal_error": "unknown_category",
    "string_too_long": "too_long",
    "float_type": "not_a_number",
    "float_parsing": "not_a_number",
    "int_type": "not_a_number",
    "int_parsing": "not_a_number",
    "string_type": "not_text",
    "too_short": "no_records",
    "too_long": "too_many_records",
    "json_invalid": "invalid_json",
}
DROP_REASONS = ("queue_full", "sink_error", "closed", "other")  # why the prediction record dropped records
REQUEST = "(request)"  # the column label of a refusal about the whole body (no records, bad JSON)
UNKNOWN = "(unknown)"  # a column the schema does not have: its name is the client's, never a label
OTHER = "other"  # a category not seen in training

log = logging.getLogger(__name__)


class Instruments:
    """The metric families of one worker, set up from the schema, the profile and the model's classes."""

    def __init__(
        self, schema: Schema, profile: dict, classes: list[str], version: str, registry=None
    ) -> None:
        import prometheus_client as prom

        registry = registry if registry is not None else prom.REGISTRY
        self.lock = threading.Lock()
        features = schema.features
        self.numeric = [i for i, column in enumerate(features) if column.numeric]
        numeric_names = [features[i].name for i in self.numeric]
        self.categorical = [i for i, c in enumerate(features) if not c.numeric and c.categories is not None]
        self.names = [column.name for column in features]
        self.columns = set(self.names)
        about = profile.get("model", {})
        prom.Gauge(
            "model_info",
            "The served model: 1, with its version, MLflow run id and git commit as labels",
            ["version", "run_id", "git_commit"],
            registry=registry,
            multiprocess_mode="livemax",
        ).labels(version, about.get("run_id", "unknown"), about.get("git_commit", "unknown")).set(1)

        # Inputs: a histogram per numeric feature over its training deciles, counters per category.
        # Each feature's histogram has its own buckets: one unregistered Histogram per feature, all with
        # one name (the multiprocess files merge them by name; FeatureHistograms does it in one process).
        numeric_names = [name for name in numeric_names if profile["numeric"].get(name, {}).get("edges")]
        self.numeric = [i for i in self.numeric if features[i].name in numeric_names]
        # A model call's matrix (predict.numeric_matrix) has a column per numeric feature of the schema.
        self.schema_numeric = [i for i, column in enumerate(features) if column.numeric]
        self.matrix_columns = [self.schema_numeric.index(i) for i in self.numeric]
        edges = [profile["numeric"][name]["edges"] for name in numeric_names]
        doc = "Numeric feature values; the buckets are the feature's training deciles"
        parents = [
            prom.Histogram("model_feature_value", doc, ["feature"], registry=None, buckets=column)
            for column in edges
        ]
        registry.register(FeatureHistograms("model_feature_value", doc, parents))
        children = [parent.labels(name) for parent, name in zip(parents, numeric_names, strict=True)]
        self.feature_buckets = Buckets(children, edges)
        reference = prom.Gauge(
            "model_feature_reference_cdf",
            "Share of training values at or below each bucket edge `le`",
            ["feature", "le"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        for name in numeric_names:
            column = profile["numeric"].get(name, {"edges": [], "cdf": []})
            for edge, share in zip([*column["edges"], float("inf")], [*column["cdf"], 1.0], strict=True):
                reference.labels(name, prom.utils.floatToGoString(edge)).set(share)
        missing = prom.Counter(
            "model_missing_values",
            "Missing (null) values received, per feature",
            ["feature"],
            registry=registry,
        )
        self.missing = {column.name: missing.labels(column.name) for column in features}
        self.numeric_missing = [self.missing[name] for name in numeric_names]
        categories = prom.Counter(
            "model_category",
            "Categorical values received; `other` is a value unseen in training",
            ["feature", "category"],
            registry=registry,
        )
        category_share = prom.Gauge(
            "model_category_reference_share",
            "Share of each category in the training split",
            ["feature", "category"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.category_codes: list[dict[str, int]] = []
        self.category_tallies: list[Tally] = []
        for index in self.categorical:
            name = features[index].name
            known = [*(features[index].categories or []), OTHER]
            self.category_codes.append({category: code for code, category in enumerate(known)})
            self.category_tallies.append(Tally([categories.labels(name, category) for category in known]))
            shares = profile["categorical"].get(name, {})
            for category in known:
                category_share.labels(name, category).set(shares.get(category, 0.0))

        # Outputs: a counter per class, or a histogram of predicted values over held-out deciles.
        self.classes = {label: code for code, label in enumerate(classes)}
        reference_prediction = profile.get("prediction", {})
        if classes:
            predictions = prom.Counter(
                "model_predictions", "Predictions, per class", ["class"], registry=registry
            )
            self.predictions: Tally | Buckets = Tally([predictions.labels(label) for label in classes])
            mix = prom.Gauge(
                "model_prediction_reference_share",
                "Share of each class in the predictions on held-out data",
                ["class"],
                registry=registry,
                multiprocess_mode="livemax",
            )
            for label in classes:
                mix.labels(label).set(reference_prediction.get("shares", {}).get(label, 0.0))
        else:
            edges = reference_prediction.get("edges", [])
            values = prom.Histogram(
                "model_prediction_value",
                "Predicted values; buckets: the held-out predictions' deciles",
                registry=registry,
                buckets=edges or (0.0,),
            )
            self.predictions = Buckets([values], [edges])
            cdf = prom.Gauge(
                "model_prediction_reference_cdf",
                "Share of held-out predictions at or below each edge `le`",
                ["le"],
                registry=registry,
                multiprocess_mode="livemax",
            )
            shares = [*reference_prediction.get("cdf", []), 1.0]
            for edge, share in zip([*edges, float("inf")], shares, strict=True):
                cdf.labels(prom.utils.floatToGoString(edge)).set(share)
        batch = prom.Histogram(
            "model_batch_records",
            "Records per model call (requests that arrive together share one)",
            registry=registry,
            buckets=BATCH_BUCKETS,
        )
        self.batches = Buckets([batch], [list(BATCH_BUCKETS)])
        self.refusals = prom.Counter(
            "model_refused_records",
            "Refused values, by the schema rule they break and their column",
            ["reason", "column"],
            registry=registry,
        )
        self.dropped = prom.Counter(
            "prediction_record_dropped",
            "Prediction records not written (the sink was too slow or failed)",
            ["reason"],
            registry=registry,
        )
        for reason in DROP_REASONS:
            self.dropped.labels(reason)

    def observe(self, records: Sequence[Any], rows: Sequence[tuple[Any, Any]]) -> None:
        """One model call: its records (typed Records, features in schema order) and their results.

        The numbers (and a classifier's classes) come from the call's own arrays when `rows` carries them
        (predict.Answers), otherwise from the records.
        """
        matrix = getattr(rows, "numeric", None)
        reading = matrix is None or matrix.shape[1] != len(self.schema_numeric)
        values = feature_values(records) if reading or self.categorical else []
        numbers = numeric_matrix(values, self.numeric) if reading else matrix[:, self.matrix_columns]
        with self.lock:
            if self.numeric:
                self.feature_buckets.add(numbers.reshape(len(records), len(self.numeric)))
            categorical = zip(self.categorical, self.category_codes, self.category_tallies, strict=True)
            for index, codes, tally in categorical:
                present = [row[index] for row in values if row[index] is not None]
                if len(present) < len(values):
                    self.missing[self.names[index]].inc(len(values) - len(present))
                tally.add(np.array([codes.get(str(v), len(codes) - 1) for v in present], dtype=np.int64))
            proba = getattr(rows, "proba", None)
            classified = isinstance(self.predictions, Tally)
            if classified and proba is not None and proba.shape[1] == len(self.classes):
                self.predictions.add(proba.argmax(axis=1))  # the columns are the classes, in order
            elif classified:
                labels = [self.classes.get(str(label), -1) for label, _ in rows]
                self.predictions.add(np.array([code for code in labels if code >= 0], dtype=np.int64))
            else:
                predicted = getattr(rows, "labels", None) or [value for value, _ in rows]
                self.predictions.add(np.array(predicted, dtype=np.float64).reshape(len(rows), 1))
            self.batches.counts[0, bisect.bisect_left(BATCH_BUCKETS, len(records))] += 1  # no numpy
            self.batches.sums[0] += len(records)

    def flush(self) -> None:
        with self.lock:
            self.feature_buckets.flush(self.numeric_missing)
            for tally in self.category_tallies:
                tally.flush()
            self.predictions.flush()
            self.batches.flush()

    def refused(self, error: ValidationError) -> None:
        """Count a refused request's errors by rule and column (one line per error, summed first)."""
        counts: Counter[tuple[str, str]] = Counter()
        for item in error.errors(include_url=False, include_context=False):
            counts[self._rule(item), self._column(item["loc"])] += 1
        for (reason, column), count in counts.items():
            self.refusals.labels(reason, column).inc(count)

    @staticmethod
    def _rule(item: dict) -> str:
        kind, given = item["type"], item.get("input")
        if kind.endswith(("_type", "_parsing")) and given is None:
            return "missing_value"
        if kind == "int_type" and isinstance(given, float) and not given.is_integer():
            return "not_whole"
        return RULES.get(kind, "other")

    def _column(self, loc: tuple) -> str:
        if len(loc) >= 2 and isinstance(loc[-2], int) and isinstance(loc[-1], str):
            return loc[-1] if loc[-1] in self.columns else UNKNOWN
        return REQUEST


_active: Instruments | None = None
_stop = threading.Event()


def start(schema: Schema, classes: list[str], settings: ServingSettings) -> Instruments | None:
    """This worker's instruments (once per process), flushed every MODEL_METRICS_FLUSH_S; None with
    MODEL_METRICS=0."""
    global _active
    if not settings.model_metrics or _active is not None:
        return _active
    path = settings.profile_path
    try:
        profile = load_profile(path)
    except FileNotFoundError:
        log.warning("%s is missing (run `make train`): no reference for the feature metrics", path)
        profile = {"numeric": {}, "categorical": {}}
    import bentoml

    # The bento's version (the release tag, or the commit `make build` used); from source, MODEL_VERSION.
    version = bentoml.server_context.bento_version
    if not version or version == "not available":
        version = settings.model_version or "dev"
    _active = Instruments(schema, profile, classes, version)
    _stop.clear()
    every = settings.model_metrics_flush_s
    threading.Thread(target=_flush_every, args=(_active, every), name="metrics-flush", daemon=True).start()
    return _active


def _flush_every(instruments: Instruments, every: float) -> None:
    while not _stop.wait(every):
        instruments.flush()


def stop() -> None:
    """Write what is counted and stop flushing (at shutdown)."""
    _stop.set()
    if _active is not None:
        _active.flush()


def observing(infer: Callable[[list[Any]], Sequence[Any]]) -> Callable[[list[Any]], Sequence[Any]]:
    """`infer`, counting each call's records and results (what the batcher runs per model call)."""

    def observed(records: list[Any]) -> Sequence[Any]:
        rows = infer(records)
        if _active is not None:
            _active.observe(records, rows)
        return rows

    return observed


def record_dropped(count: int = 1, reason: str = "queue_full") -> None:
    """For the prediction record: `count` records were not written, for `reason` (one of DROP_REASONS)."""
    if _active is not None:
        _active.dropped.labels(reason if reason in DROP_REASONS else "other").inc(count)


class RefusalCounter(logging.Filter):
    """Counts each refused request's errors by rule and column; BentoML logs every one it refuses.

    The log record is the one place a refusal's ValidationError surfaces (the service method never runs).
    Install it before any filter that strips the exception from the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if _active is not None and isinstance(error, ValidationError):
            _active.refused(error)
        return True
