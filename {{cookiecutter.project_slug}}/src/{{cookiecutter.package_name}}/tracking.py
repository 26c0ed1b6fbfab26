"""MLflow: where runs go, what a training run records, and promotion by alias when the gate passes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import mlflow
import mlflow.artifacts
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from .model_io import RUN_PATH, TRUSTED_TYPES, ModelSourceError, read_run

EXPERIMENT = "{{ cookiecutter.project_slug }}"
REGISTERED_MODEL = "{{ cookiecutter.project_slug }}"
DEFAULT_URI = f"sqlite:///{Path('mlflow.db').resolve()}"
CHAMPION = "champion"

DISTRIBUTION = "{{ cookiecutter.project_slug }}"  # this project, as installed (its pyproject.toml)
# What loading the logged model needs. Their requirement lines are the project's own runtime dependencies
# (pyproject.toml, read back from the installed metadata), so the two cannot drift apart.
MODEL_PACKAGES = ("scikit-learn", "skops", "pandas", "numpy")


# "local": a SQLite file in the project unless MLFLOW_TRACKING_URI says otherwise;
# "server": MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN) only.
TRACKING = "{{ cookiecutter.mlflow_tracking }}"


class TrackingNotConfiguredError(RuntimeError):
    """mlflow_tracking is "server" but the environment names no server."""


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set; else, for local tracking, a SQLite file in the project."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    if TRACKING == "server":
        raise TrackingNotConfiguredError(
            "MLFLOW_TRACKING_URI is not set: this project logs to an MLflow server; export "
            "MLFLOW_TRACKING_URI=https://your-mlflow-server (and MLFLOW_TRACKING_USERNAME/PASSWORD "
            "if it needs them)"
        )
    return DEFAULT_URI


def configure() -> None:
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def canonical(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503): `Scikit_Learn` is `scikit-learn`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_requirements() -> list[str]:
    """The requirements written into the logged model, so serving it never has to infer them (slow, and a
    guess): pyproject.toml's lines for MODEL_PACKAGES, e.g. `scikit-learn>=1.6`."""
    declared = {
        canonical(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group()): line
        for line in metadata.requires(DISTRIBUTION) or []
    }
    missing = [name for name in MODEL_PACKAGES if name not in declared]
    if missing:
        raise RuntimeError(
            f"pyproject.toml's dependencies do not name {missing}: loading the model needs them"
        )
    return [declared[name] for name in MODEL_PACKAGES]


def flatten(prefix: str, value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {
            key: item for name, sub in value.items() for key, item in flatten(f"{prefix}.{name}", sub).items()
        }
    return {prefix: value}


def log_training(model, params: dict, input_example, data_hash: str, train_metrics: dict) -> str:
    """Log one training run (params, data hash, commit, model with signature); return the run id."""
    configure()
    with mlflow.start_run() as run:
        mlflow.log_params({k.lstrip("."): v for k, v in flatten("", params).items()})
        mlflow.set_tags({"data.sha256": data_hash, "git.commit": git_commit()})
        mlflow.log_metrics({f"train_{name}": value for name, value in train_metrics.items()})
        signature = infer_signature(input_example, model.predict(input_example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=input_example,
            serialization_format="skops",
            skops_trusted_types=TRUSTED_TYPES,
            pip_requirements=pip_requirements(),
        )
    record = {
        "run_id": run.info.run_id,
        "model_uri": info.model_uri,
        "model_id": info.model_id,
        "tracking_uri": tracking_uri(),
        "git_commit": git_commit(),
    }
    RUN_PATH.parent.mkdir(parents=True, exist_ok=True)
    RUN_PATH.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return run.info.run_id


def log_evaluation(metrics: dict, artifacts: list[Path]) -> None:
    """Attach held-out metrics and report files to the training run."""
    configure()
    with mlflow.start_run(run_id=read_run()["run_id"]):
        mlflow.log_metrics(metrics)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="reports")


def log_compiled(path: Path) -> None:
    """Add the ONNX file to the logged model's own files, beside its skops file: every registered version
    of it, and a model loaded by alias, has both (MODEL_URI serves the ONNX one when it holds)."""
    from .compiled import bound_to  # the pipeline group's skl2onnx/onnx: only evaluate logs a compiled file
    from .data import file_digest  # the logged skops file's hash, read in blocks

    configure()
    model_id = read_run()["model_id"]
    with tempfile.TemporaryDirectory() as folder:
        logged = download_model(f"models:/{model_id}", Path(folder) / "logged")
        twin = Path(folder) / path.name
        twin.write_bytes(bound_to(path.read_bytes(), file_digest(logged)))
        MlflowClient().log_model_artifact(model_id, str(twin))


def download_model(uri: str, folder: Path) -> Path:
    """Fetch an MLflow model's files into `folder`; return its skops file (a pickled model is refused)."""
    server = tracking_uri()
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(folder), tracking_uri=server, registry_uri=server
        )
    )
    flavor = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))["flavors"].get("sklearn", {})
    if flavor.get("serialization_format") != "skops":
        raise ModelSourceError(f"{uri} is not a scikit-learn model saved with skops; it is not loaded")
    return local / flavor["pickled_model"]


class RunElsewhereError(RuntimeError):
    """models/run.json names a run this tracking store does not hold (the model was trained against
    another store, e.g. a developer's SQLite file, and its outputs pulled from the DVC remote)."""


def promote(alias: str = CHAMPION) -> str:
    """Register the last trained model (once) and point `alias` at that version; return the version."""
    configure()
    run = read_run()
    client = MlflowClient()
    try:
        client.get_run(run["run_id"])
    except MlflowException:
        raise RunElsewhereError(
            f"run {run['run_id']} (models/run.json) is not in {mlflow.get_tracking_uri()}: the model was "
            "trained against another tracking store; set MLFLOW_TRACKING_URI to that store to promote it"
        ) from None
    existing = [
        version
        for version in client.search_model_versions(f"name='{REGISTERED_MODEL}'")
        if version.run_id == run["run_id"]
    ]
    version = existing[0] if existing else mlflow.register_model(run["model_uri"], REGISTERED_MODEL)
    if (version.tags or {}).get("deprecated") == "true":  # retired with `make retire` (releases.py)
        raise RuntimeError(f"version {version.version} of {REGISTERED_MODEL!r} is retired, no alias")
    client.set_registered_model_alias(REGISTERED_MODEL, alias, version.version)
    return str(version.version)


# MLflow's database stores keep a model version's description in a column of 5,000 characters: on
# PostgreSQL or MySQL a longer one fails the whole update (SQLite does not check).
DESCRIPTION_LIMIT = 5000
CUT_NOTE = "\n... (cut to fit the model registry; the whole card: the run's artifact reports/MODEL_CARD.md)\n"


def registry_description(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """`text` as a model version's description: whole when it fits, otherwise cut at the end of a line
    with a last line saying where the whole card is."""
    if len(text) <= limit:
        return text
    kept = text[: limit - len(CUT_NOTE)]
    return kept[: kept.rfind("\n") + 1] + CUT_NOTE


def describe(version: str, text: str) -> None:
    """Set a registered model version's description (the model card, as the registry shows it)."""
    configure()
    MlflowClient().update_model_version(REGISTERED_MODEL, version, description=registry_description(text))
