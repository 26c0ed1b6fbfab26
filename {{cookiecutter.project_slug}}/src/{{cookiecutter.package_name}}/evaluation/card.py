"""MODEL_CARD.md: human sections from docs/model_card.yaml carried over unchanged, generated sections
(version, data provenance, metrics with cross-validated intervals, slices, importance) refreshed."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import Params
from ..features import categorical_encoding
from ..metrics import HIGHER_IS_BETTER
from ..schema import Schema
from . import importance as importance_section
from . import slices as slices_section
from .crossval import sampled_rows

MODEL_CARD_PATH = Path("MODEL_CARD.md")
HUMAN_PATH = Path("docs/model_card.yaml")
DVC_CONFIG = Path(".dvc/config")
PLACEHOLDER = "TODO"
REGISTRY_LINE = "- Registry: version and alias (`@champion`) are set when `make gate` passes"

Text = Field(min_length=1)


class HumanSections(BaseModel):
    """The sections the team writes; a value starting with TODO is still the template's placeholder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: str = Text
    owner: str = Text
    intended_use: str = Text
    out_of_scope_use: str = Text
    limitations: str = Text
    ethical_considerations: str = Text


TITLES = {
    "purpose": "Purpose",
    "owner": "Owner",
    "intended_use": "Intended use",
    "out_of_scope_use": "Out-of-scope use",
    "limitations": "Known limitations",
    "ethical_considerations": "Ethical considerations",
}


class CardError(ValueError):
    """docs/model_card.yaml is missing, not YAML, or has unknown or empty sections."""


def load_human(path: Path = HUMAN_PATH) -> HumanSections:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return HumanSections.model_validate(raw)
    except (OSError, yaml.YAMLError) as error:
        raise CardError(f"cannot read {path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, p['loc'])) or '<root>'}: {p['msg']}" for p in error.errors()
        )
        raise CardError(f"{path} is invalid: {problems}") from None


def placeholders(human: HumanSections) -> list[str]:
    """Titles of the sections nobody has written yet."""
    return [TITLES[name] for name, text in human.model_dump().items() if text.strip().startswith(PLACEHOLDER)]


@dataclass(frozen=True)
class Provenance:
    raw_path: str
    raw_sha256: str
    raw_rows: int
    train_rows: int
    test_rows: int
    remote: str


def dvc_remote(path: Path = DVC_CONFIG) -> str:
    """The default DVC remote as `name (url)`, credentials stripped from the URL; 'none' without one."""
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return "unreadable .dvc/config"
    name = parser.get("core", "remote", fallback="")
    if not name:
        return "none (data and cache stay on this machine)"
    url = parser.get(f"'remote \"{name}\"'", "url", fallback="?")
    return f"`{name}` ({re.sub(r'//[^/@]*@', '//', url)})"


def _version() -> str:
    try:
        return metadata.version("{{ cookiecutter.project_slug }}")
    except metadata.PackageNotFoundError:
        return "unknown"


def _human(human: HumanSections) -> list[str]:
    lines = []
    for name, text in human.model_dump().items():
        lines += [f"## {TITLES[name]}", "", text.strip(), ""]
    return lines


def _metrics(heldout: dict, crossval: dict, folds: int, rows: int) -> list[str]:
    lines = [
        f"| metric | held-out | cross-validated mean ± std ({folds} folds on {rows:,} rows) | direction |",
        "|---|---:|---:|---|",
    ]
    for name, value in heldout.items():
        spread = crossval.get(name)
        interval = f"{spread['mean']:.4f} ± {spread['std']:.4f}" if spread else "-"
        direction = "higher" if HIGHER_IS_BETTER[name] else "lower"
        lines.append(f"| {name} | {value:.4f} | {interval} | {direction} is better |")
    return lines


def _features(schema: Schema) -> list[str]:
    rows = ["| feature | kind | missing allowed | range or levels |", "|---|---|---|---|"]
    for column in schema.features:
        levels = (
            f"{column.minimum:g} .. {column.maximum:g}"
            if column.numeric and column.minimum is not None
            else ", ".join((column.categories or [])[:8])
        )
        rows.append(f"| {column.name} | {column.kind} | {'yes' if column.nullable else 'no'} | {levels} |")
    return rows


ENCODINGS = {
    "onehot": "one-hot encoding of the categories (a 0/1 column each)",
    "ordinal": "ordinal encoding of the categories (a number each)",
}


def _preprocessing(params: Params, schema: Schema) -> str:
    """The pipeline's preprocessing in words: imputation, scaling when on, the categories' encoding."""
    steps = ["imputation"] + (["scaling"] if params.features.scale_numeric else [])
    if schema.categorical_features:
        steps.append(ENCODINGS[categorical_encoding(params.features, params.model.name)])
    return ", ".join(steps[:-1]) + " and " + steps[-1] if len(steps) > 1 else steps[0]


def render(
    params: Params,
    schema: Schema,
    human: HumanSections,
    run: dict,
    provenance: Provenance,
    reports: dict,
) -> str:
    """The whole card. `run` is models/run.json; `reports` holds metrics, crossval, slices, importance."""
    model = params.model.model_dump()
    name = model.pop("name")
    missing = placeholders(human)
    warning = (
        [
            f"> **This card is incomplete:** the sections {', '.join(missing)} are still the template's "
            f"placeholders. Write them in `{HUMAN_PATH}`; the next run carries them into this card.",
            "",
        ]
        if missing
        else []
    )
    excluded = schema.excluded or []
    return "\n".join(
        [
            "# Model card: {{ cookiecutter.project_slug }}",
            "",
            *warning,
            f"_Written by the evaluate stage on {datetime.now(UTC):%Y-%m-%d}: the sections from Purpose to "
            f"Ethical considerations come unchanged from `{HUMAN_PATH}` (edit them there), the rest is "
            "generated on every run. Do not edit this file by hand._",
            "",
            *_human(human),
            "## Version",
            f"- Project version {_version()}; trained from commit `{run.get('git_commit', 'unknown')}` by "
            "`make train` (`dvc repro`; stage train runs "
            "`python -m {{ cookiecutter.package_name }}.stages.train`).",
            f"- MLflow run `{run.get('run_id', '?')}`, model `{run.get('model_uri', '?')}`.",
            f"{REGISTRY_LINE} (registered model `{{ cookiecutter.project_slug }}`).",
            "",
            "## Model",
            f"- Task: {params.task}; estimator: `{name}` in a scikit-learn Pipeline with "
            + _preprocessing(params, schema)
            + ".",
            f"- Hyperparameters: `{model}`",
            *([f"- Serving: {reports['compiled']}."] if reports.get("compiled") else []),
            "",
            "## Data provenance",
            f"- Source: {params.data.source}; file `{provenance.raw_path}` "
            f"(sha256 `{provenance.raw_sha256}`), "
            f"{provenance.raw_rows} rows; label column `{params.data.target}`.",
            f"- Split: {provenance.train_rows} training rows, {provenance.test_rows} held-out rows "
            f"(test_size {params.data.test_size}, seed {params.data.seed}).",
            f"- DVC remote: {provenance.remote}.",
            f"- Kept out of the features: {', '.join(f'`{c}`' for c in excluded) if excluded else 'none'}.",
            f"- {len(schema.features)} features:",
            "",
            *_features(schema),
            "",
            "## Metrics",
            "",
            *_metrics(
                reports["metrics"],
                reports["crossval"],
                params.crossval.folds,
                sampled_rows(provenance.train_rows, params.crossval.max_rows),
            ),
            "",
            *slices_section.markdown(reports["slices"], params.slices, params.task),
            "",
            f"## Feature importance (permutation on the held-out split, top {params.importance.top})",
            "",
            *importance_section.markdown(reports["importance"], params.importance.top),
            "",
        ]
    )


def with_registry(card: str, version: str, alias: str) -> str:
    """The card as the registry keeps it: the registry line names the version and alias just set."""
    return card.replace(REGISTRY_LINE, f"- Registry: version {version}, alias `@{alias}`", 1)


def on_main() -> bool:
    """The main branch: GitHub's GITHUB_REF in a workflow, else the checked-out git branch."""
    ref = os.environ.get("GITHUB_REF")
    if ref:
        return ref == "refs/heads/main"
    branch = subprocess.run(
        ["git", "symbolic-ref", "--quiet", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return branch.returncode == 0 and branch.stdout.strip() == "main"


def card_warning(path: Path = HUMAN_PATH) -> str | None:
    """On main, a warning (never a failure) while the card's human sections are placeholders."""
    if not on_main():
        return None
    try:
        missing = placeholders(load_human(path))
    except CardError as error:
        return f"warning: the model card's human sections cannot be read: {error}"
    if not missing:
        return None
    return (
        f"warning: the model card on main still has placeholder sections ({', '.join(missing)}): "
        f"write them in {path}"
    )
