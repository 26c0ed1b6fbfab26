"""Shape the baked project: drop the files of unselected options, then git init and uv lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary")

# Option -> value -> paths (relative to the project) that value does not use.
# The chosen license is kept by deleting the others; `finish` renames it to LICENSE.
REMOVE: dict[str, dict[str, list[str]]] = {
    "license": {chosen: [f"LICENSE-{other}" for other in LICENSES if other != chosen] for chosen in LICENSES},
    "deploy": {
        "kubernetes": [],
        "none": ["deploy", ".github/workflows/deploy-staging.yml", ".github/workflows/deploy-production.yml"],
    },
    "scheduled_retraining": {"yes": [], "no": [".github/workflows/retrain.yml"]},
}


def paths_to_remove(answers: dict) -> list[str]:
    """Every path the answers do not use, in the order of the table."""
    return [path for option, table in REMOVE.items() for path in table.get(str(answers.get(option)), [])]


def remove(project: Path, paths: list[str]) -> None:
    for relative in paths:
        target = project / relative
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def finish(project: Path, answers: dict) -> None:
    (project / f"LICENSE-{answers['license']}").rename(project / "LICENSE")


def _run(project: Path, *command: str, quiet: bool = False) -> bool:
    """Run an optional tool; a missing or failing tool is reported (unless quiet), never fatal."""
    if shutil.which(command[0]) is None:
        if not quiet:
            print(f"note: {command[0]} not found; run `{' '.join(command)}` yourself later.", file=sys.stderr)
        return False
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    if result.returncode != 0 and not quiet:
        print(f"note: `{' '.join(command)}` failed; run it yourself later:", file=sys.stderr)
        print(result.stderr.strip(), file=sys.stderr)
    return result.returncode == 0


def initialise_tools(project: Path) -> None:
    if not (project / ".git").exists():
        _run(project, "git", "init", "--quiet", "--initial-branch=main")
    # Resolve from uv's cache first (a fraction of a second, no network); a cold cache asks the index.
    if not _run(project, "uv", "lock", "--quiet", "--offline", quiet=True):
        _run(project, "uv", "lock", "--quiet")


def main(answers: dict, project: Path) -> int:
    remove(project, paths_to_remove(answers))
    finish(project, answers)
    initialise_tools(project)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r'''{{ cookiecutter | tojson }}'''), Path.cwd()))  # fmt: skip
