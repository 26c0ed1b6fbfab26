"""What a bake should contain: the exact file table per option set, and how to list a bake's files.

The files an option value brings come from cookiecutter.json's `_paths`, the table the post-gen hook removes
files by; everything else a bake has is listed here, so every test that checks a file set (test_bake,
test_matrix, test_workflows) follows a change of either.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]

# Files in every bake, relative to the project.
COMMON_FILES = [
    ".cruft.json", ".dvc/.gitignore", ".dvc/config", ".dvcignore", ".gitignore", ".pre-commit-config.yaml",
    ".python-version", "Makefile", "README.md", "SECURITY.md", "bentofile.yaml", "dvc.yaml",
    "params.yaml", "pyproject.toml", "uv.lock",
    "bench/__init__.py", "bench/__main__.py", "bench/fastapi_app.py", "bench/load.py", "bench/loadgen.py",
    "bench/targets.py", "bench/ceiling.py",
    ".devcontainer/devcontainer.json",
    "bench/predict.py", "tests/test_scoring.py",
    ".github/CODEOWNERS", ".github/dependabot.yml", ".github/rulesets/main.json",
    ".github/rulesets/release-tags.json", ".github/rulesets/release-tags-immutable.json",
    ".github/workflows/ci.yml", ".github/workflows/image.yml", ".github/workflows/pr-report.yml",
    ".github/workflows/release.yml",
    "tests/conftest.py", "tests/test_batching.py", "tests/test_config.py", "tests/test_features.py",
    "tests/test_gate.py", "tests/test_model_quality.py", "tests/test_schema.py", "tests/test_service.py",
    "tests/test_data.py", "tests/test_pipeline_state.py",
    "tests/test_auth.py", "tests/test_releases.py", "tests/test_instruments.py", "tests/test_record.py",
    "tests/test_evaluation.py", "docs/model_card.yaml", "tests/test_drift.py", "tests/test_loop.py",
    "tests/test_feedback.py", "tests/test_compiled.py", "tests/test_settings.py",
    "tests/test_imports.py", "tests/test_tracking.py",
    "tools/__init__.py", "tools/processes.py", "tools/smoke.py",
]  # fmt: skip
# Files under src/<package_name>/ in every bake.
PACKAGE_FILES = [
    "__init__.py", "batching.py", "config.py", "data.py", "features.py", "gate.py", "limits.py", "metrics.py",
    "model.py", "openapi.py", "predict.py", "report.py", "schema.py", "service.py", "tracking.py",
    "stages/__init__.py", "stages/evaluate.py", "stages/gate.py", "stages/prepare.py", "stages/promote.py",
    "stages/train.py", "stages/validate.py", "stages/github_setup.py", "stages/profile.py",
    "serving/__init__.py", "serving/auth.py", "serving/instruments.py", "serving/record.py",
    "serving/tallies.py", "serving/settings.py", "monitoring/__init__.py", "monitoring/profile.py",
    "monitoring/drift.py", "monitoring/records.py", "monitoring/reports.py", "stages/drift.py",
    "monitoring/feedback.py", "stages/feedback.py", "monitoring/ingest.py", "stages/ingest_feedback.py",
    "releases.py", "stages/release.py", "stages/rollback.py", "stages/retire.py",
    "evaluation/__init__.py", "evaluation/card.py", "evaluation/crossval.py", "evaluation/curves.py",
    "evaluation/importance.py", "evaluation/slices.py", "evaluation/trust.py",
    "batch_io.py", "scoring.py", "stages/predict.py", "model_io.py", "compiled.py", "pipeline_state.py",
    "sources.py", "stages/sources.py", "monitoring/issue.py", "stages/monitor_issue.py",
]  # fmt: skip
# Option -> value -> the paths (files, folders or globs, relative to the project) that value owns: the
# post-gen hook removes those of the values not chosen. One table, cookiecutter.json's `_paths`.
PATHS: dict[str, dict[str, list[str]]] = json.loads((TEMPLATE / "cookiecutter.json").read_text())["_paths"]
PROJECT_TEMPLATE = TEMPLATE / "{{cookiecutter.project_slug}}"


def post_gen_hook():
    """hooks/post_gen_project.py as a module (its Jinja is only in the `__main__` block)."""
    spec = importlib.util.spec_from_file_location("post_gen_project", TEMPLATE / "hooks/post_gen_project.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENAME: dict[str, tuple[str, str]] = post_gen_hook().RENAME


def template_files(entry: str) -> list[str]:
    """The template's files an entry of PATHS names (a file, every file under a folder, a glob's matches),
    relative to the project."""
    matches = sorted(PROJECT_TEMPLATE.glob(entry))
    files = [file for match in matches for file in ([match] if match.is_file() else sorted(match.rglob("*")))]
    return [
        str(file.relative_to(PROJECT_TEMPLATE))
        for file in files
        if file.is_file() and "__pycache__" not in file.parts
    ]


def placed(option: str, value: str, path: str) -> str:
    """Where the hook leaves a file `value` owns: the chosen variant moves to its place (RENAME)."""
    pattern, destination = RENAME.get(option, ("", path))
    return destination if path == pattern.format(value) else path


def owned_files(option: str, value: str) -> set[str]:
    """The template's files `value` of `option` owns, as named in the template."""
    return {file for entry in PATHS[option][value] for file in template_files(entry)}


# (option, value) -> the files that value adds to a bake, derived from PATHS. A value with none adds nothing.
OPTION_FILES: dict[tuple[str, str], list[str]] = {
    (option, value): sorted(placed(option, value, file) for file in owned_files(option, value))
    for option, owners in PATHS.items()
    for value in owners
}
# Paths the pipeline or the tools write after the bake (`make train`, `make gate`, `make build`,
# `dvc remote modify --local`):
# a README may name them although a fresh bake does not have them. fnmatch patterns.
GENERATED = [
    "MODEL_CARD.md", "dvc.lock", "mlflow.db", "build/bento", ".dvc/config.local",
    "data/raw/data.csv", "data/raw/.gitignore", "data/prepared/.gitignore",
    "data/prepared/train.csv", "data/prepared/test.csv", "data/schema.json", "data/*/.gitignore",
    "models/model.skops", "models/.gitignore", "models/profile.json", "models/heldout_predictions.json",
    "reports/metrics.json", "reports/gate.md", "reports/baseline.json", "reports/request_example.json",
    "reports/bench.json", "reports/load.json", "reports/bench-logs/*",
    "reports/plots/*",
    "records", "records/*",
    "reports/crossval.json", "reports/slices.json", "reports/importance.json",
    "reports/curves/*", "build/plots/index.html",
    "reports/bench-predict.json", "build/bench-predict",
    "data/raw/data.csv.dvc", "reports/data-change.md", "reports/data-change.json", "build/pr-body.md",
    "build/monitor-issue.md",
    "reports/drift.json", "reports/drift.md", "reports/live.json", "reports/live.md",
    "data/raw/ingested-ids.txt",
    "models/compiled", "models/compiled/*", "reports/compiled.json",
]  # fmt: skip
# Leftover template syntax; `${{ ... }}` is GitHub Actions' own and stays.
JINJA = re.compile(r"(?<!\$)\{\{|\{%|\{#|cookiecutter\.")
DEFAULTS = {
    key: value[0]
    for key, value in json.loads((TEMPLATE / "cookiecutter.json").read_text()).items()
    if isinstance(value, list) and not key.startswith("_")
}


def expected_files(package: str, answers: dict[str, str]) -> set[str]:
    """Every file a fresh bake of `answers` (over the defaults) has, relative to the project."""
    chosen = DEFAULTS | answers
    optional = {
        path for (key, value), paths in OPTION_FILES.items() if chosen.get(key) == value for path in paths
    }
    return set(COMMON_FILES) | optional | {f"src/{package}/{name}" for name in PACKAGE_FILES}


def project_files(project: Path) -> set[str]:
    """The files git would commit in a bake (a CSV the tests drop in data/raw is not the template's)."""
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--cached", "--exclude-standard"],
        cwd=project, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {line for line in listed.stdout.splitlines() if line != "data/raw/data.csv"}


def package_of(project: Path) -> str:
    """The package name a bake was given (read back, so a derived name needs no re-deriving)."""
    return next(path.name for path in (project / "src").iterdir() if (path / "__init__.py").exists())
