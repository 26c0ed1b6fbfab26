"""Shape the baked project: drop the files of unselected options, then git init and uv lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

# Which option value owns which paths is one table, cookiecutter.json's private key `_paths` (never
# prompted): it reaches this hook inside the answers, and the template's tests read the same key.

# Option -> (the chosen value's file, where it goes); its siblings belong to the values not chosen.
RENAME: dict[str, tuple[str, str]] = {
    "license": ("LICENSE-{}", "LICENSE"),
    "dvc_remote": (".github/dvc-remote-login/{}.yml", ".github/actions/dvc-remote-login/action.yml"),
}


def paths_to_remove(table: dict[str, dict[str, list[str]]], answers: dict) -> list[str]:
    """Every path (or glob) that values other than the chosen one own and the chosen one does not, in the
    order of the table."""
    removed: list[str] = []
    for option, owners in table.items():
        kept = owners.get(str(answers.get(option)), [])
        for paths in owners.values():
            removed += [path for path in paths if path not in kept and path not in removed]
    return removed


def remove(project: Path, paths: list[str]) -> None:
    for pattern in paths:
        for target in sorted(project.glob(pattern)):
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()


def finish(project: Path, answers: dict) -> None:
    """Move each chosen variant to its place, and drop the folders that held the variants."""
    for option, (pattern, destination) in RENAME.items():
        source, target = project / pattern.format(answers[option]), project / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
        if source.parent != project and not any(source.parent.iterdir()):
            source.parent.rmdir()


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


def write_cruft_record(project: Path, answers: dict) -> None:
    """Record the template, its commit and the answers in `.cruft.json` (cruft's format) for `cruft update`.

    The commit is the HEAD of the template's git checkout: cookiecutter's clone of a URL, or the local
    folder it was given. A template outside git cannot be updated by cruft, so nothing is written and a
    note says what to run instead. When cruft bakes (`cruft create`, and the two bakes `cruft update`
    compares), it sets `_commit` and writes its own record, so this one would only conflict with it.
    """
    import os  # only this function needs it

    if "_commit" in answers:
        return
    # cruft hands the template to plain `git clone`, which knows neither cookiecutter's `git+` prefix
    # nor its built-in abbreviations.
    template = str(answers.get("_template") or "").removeprefix("git+")
    prefix, _, rest = template.partition(":")
    urls = {
        "gh": "https://github.com/{}.git",
        "gl": "https://gitlab.com/{}.git",
        "bb": "https://bitbucket.org/{}",
    }
    if prefix in urls and rest:
        template = urls[prefix].format(rest)
    # cookiecutter passes a local path as typed, relative to the folder it was started in (the shell's
    # $PWD, inherited); this hook runs inside the new project, and cruft needs a path valid anywhere.
    started_in = Path(os.environ.get("PWD", "."))
    checkout = started_in / Path(str(answers.get("_repo_dir") or template)).expanduser()

    def git(*args: str) -> str | None:
        if shutil.which("git") is None or not checkout.is_dir():
            return None
        found = subprocess.run(["git", "-C", checkout, *args], capture_output=True, text=True, check=False)
        return found.stdout.strip() if found.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        print(f"note: {template} is not in git; `cruft link <its git URL>` enables updates.", file=sys.stderr)
        return
    directory = (git("rev-parse", "--show-prefix") or "").rstrip("/") or None
    if (started_in / Path(template).expanduser()).is_dir():
        template = git("rev-parse", "--show-toplevel") or template
    # `_paths` is the template's table, not an answer; cruft reads it from the template, never from here.
    private = {"_output_dir", "_repo_dir", "_checkout", "_template", "_paths"}
    context = {key: value for key, value in answers.items() if key not in private}
    record = {
        "template": template,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": {**context, "_template": template, "_commit": commit}},
        "directory": directory,
    }
    # Left alone by `cruft update`: the repository `git init` made in each bake it compares, and the
    # project's own lock file (re-lock when the template changes dependencies). Only when pyproject.toml
    # has no [tool.cruft] list: cruft 2.16 appends that list to this one on every update.
    pyproject = project / "pyproject.toml"
    if "[tool.cruft]" not in (pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""):
        record["skip"] = [".git", "uv.lock"]
    text = json.dumps(record, ensure_ascii=False, indent=2, separators=(",", ": "))
    (project / ".cruft.json").write_text(text + "\n", encoding="utf-8")


def main(answers: dict, project: Path) -> int:
    remove(project, paths_to_remove(answers["_paths"], answers))
    finish(project, answers)
    write_cruft_record(project, answers)
    initialise_tools(project)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r'''{{ cookiecutter | tojson }}'''), Path.cwd()))  # fmt: skip
