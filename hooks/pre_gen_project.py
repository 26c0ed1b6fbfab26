"""Validate the answers before cookiecutter writes anything; one clear line and exit 1 on a bad one."""

from __future__ import annotations

import json
import keyword
import re
import sys

SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE = re.compile(r"^[a-z_][a-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
COLUMN = re.compile(r"^[^\x00-\x1f\"\\]{1,128}$")
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
MAX_SLUG = 32  # longer names push generated import lines past the line length ruff enforces
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Importing the project's package must not hide a module the project itself needs.
TAKEN = frozenset(sys.stdlib_module_names) | {
    "bentoml", "dvc", "matplotlib", "mlflow", "numpy", "pandas", "pydantic", "pytest", "skops", "sklearn",
    "yaml", "tests",
}  # fmt: skip


def _suggest_slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug if SLUG.match(slug) else "my-ml-project"


def problems(answers: dict) -> list[str]:
    """Return one message per invalid answer, each saying what to type instead."""
    found = []
    name = str(answers.get("project_name", "")).strip()
    if not name:
        found.append("project_name is empty: type a name such as 'Churn Model'.")
    for key in ("project_name", "description", "author_name"):
        value = str(answers.get(key, ""))
        if CONTROL.search(value):
            found.append(f"{key} {value!r} has a line break or control character: type it on one line.")
    slug = str(answers.get("project_slug", ""))
    if not SLUG.match(slug):
        found.append(
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and single "
            f"hyphens, starting with a letter, e.g. {_suggest_slug(slug or name)!r}."
        )
    if SLUG.match(slug) and len(slug) > MAX_SLUG:
        found.append(
            f"project_slug {slug!r} is {len(slug)} characters: use at most {MAX_SLUG}, "
            f"e.g. {slug[:MAX_SLUG].rstrip('-')!r}."
        )
    package = str(answers.get("package_name", ""))
    derived_from_bad_slug = not SLUG.match(slug) and package == slug.replace("-", "_")
    if (not PACKAGE.match(package) or keyword.iskeyword(package)) and not derived_from_bad_slug:
        suggestion = _suggest_slug(package or slug).replace("-", "_")
        found.append(
            f"package_name {package!r} is not a valid Python package name: use lowercase "
            f"letters, digits and underscores, starting with a letter, e.g. {suggestion!r}."
        )
    if PACKAGE.match(package) and package in TAKEN:
        found.append(
            f"package_name {package!r} would shadow a module the project uses: choose another, "
            f"e.g. {package + '_model'!r}."
        )
    email = str(answers.get("author_email", ""))
    if not EMAIL.match(email):
        found.append(f"author_email {email!r} is not an e-mail address: type one like 'you@example.com'.")
    owner = str(answers.get("github_owner", ""))
    if not GITHUB_OWNER.match(owner):
        found.append(
            f"github_owner {owner!r} is not a GitHub user or organisation name: use letters, "
            "digits and single hyphens (at most 39 characters), e.g. 'my-org'."
        )
    version = str(answers.get("python_version", ""))
    if version not in PYTHON_VERSIONS:
        found.append(
            f"python_version {version!r} is not supported: choose one of {', '.join(PYTHON_VERSIONS)}."
        )
    target = str(answers.get("target_column", ""))
    if not COLUMN.match(target):
        found.append(
            f"target_column {target!r} is not a usable column name: type the header of your "
            "label column, e.g. 'target'."
        )
    return found


def main(answers: dict) -> int:
    found = problems(answers)
    for message in found:
        print(f"ERROR: {message}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    # The answers arrive as JSON (tojson escapes every apostrophe), so quotes, backslashes
    # or code typed into them stay data.
    sys.exit(main(json.loads(r'''{{ cookiecutter | tojson }}''')))  # fmt: skip
