"""The option matrix the template's tests bake, derived from cookiecutter.json (pure functions).

How an answer set list is built (the product of the choices, cycled where options do not interact):

- choices: every list-valued key of cookiecutter.json not starting with "_"; adding a value there adds
  it to every set below.
- cycled, not multiplied: options that do not interact are cycled. Answer set i takes, for each option of
  length L, the value at (i + i // L) % L: the plain i-th value modulo L for the first L sets, then moved
  on by one value each time the option wraps round, so that options whose lengths divide each other do
  not repeat the same pairing lap after lap. The number of sets is the longest option's length.
- multiplied where it matters: combinations that change the same files are completed explicitly
  (PAIRS for the fast set; task x model x dataset for the end-to-end set).
- impossible combinations are filtered out: see INVALID.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

COOKIECUTTER_JSON = Path(__file__).resolve().parents[1] / "cookiecutter.json"

Answers = dict[str, str]
Options = dict[str, list[str]]

# Impossible combinations: (option, value, other option, other value); no answer set holds both.
# A cycled answer set that hits one keeps the first value and moves the other option on to its next value
# that is possible (see `repair`); a pair that PAIRS asks for and INVALID forbids is simply not baked.
# None today: every option adds or removes its own files. (dataset=csv with the default target_column
# "target" is possible: the column name is the user's to choose.)
INVALID: list[tuple[str, str, str, str]] = []

# Options whose values shape the same files, so the fast set holds every combination of each pair:
# task x dataset (the demo dataset, the README and params.yaml depend on both) and task x model (the
# estimator block in params.yaml is a classifier or a regressor).
PAIRS: list[tuple[str, str]] = [("task", "dataset"), ("task", "model")]

# Multiplied in the end-to-end set: every combination is installed, trained, tested and served.
E2E_PRODUCT = ("task", "model", "dataset")


def _hook_python_versions() -> list[str]:
    """python_version is free text checked by the pre-gen hook (so a bad one gets the hook's one line);
    the supported values live in the hook."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_pre_gen", COOKIECUTTER_JSON.parent / "hooks/pre_gen_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.PYTHON_VERSIONS)


def choices(path: Path = COOKIECUTTER_JSON) -> Options:
    """Option -> its values, in cookiecutter.json order (the first value is the default); python_version
    from the pre-gen hook, its default first."""
    data = json.loads(path.read_text())
    options: Options = {}
    for key, value in data.items():
        if key.startswith("_"):
            continue
        if isinstance(value, list):
            options[key] = list(value)
        elif key == "python_version":
            options[key] = [value, *(v for v in _hook_python_versions() if v != value)]
    return options


def defaults(options: Options | None = None) -> Answers:
    return {key: values[0] for key, values in (options or choices()).items()}


def is_valid(answers: Answers, invalid: Iterable[tuple[str, str, str, str]] = INVALID) -> bool:
    """False when `answers` (possibly partial) holds both values of an impossible combination."""
    return not any(answers.get(a) == x and answers.get(b) == y for a, x, b, y in invalid)


def cycled_index(i: int, length: int) -> int:
    """The value answer set i takes from an option of `length` values (see the module docstring)."""
    return (i + i // length) % length


def cycled(options: Options, i: int) -> Answers:
    """Answer set i of the cycle over `options`."""
    return {key: values[cycled_index(i, len(values))] for key, values in options.items()}


def repair(
    answers: Answers, options: Options, invalid: Iterable[tuple[str, str, str, str]], keep: Iterable[str] = ()
) -> Answers:
    """`answers` with each impossible combination undone by moving a value not in `keep` on to the next."""
    invalid, keep, fixed = list(invalid), set(keep), dict(answers)
    for _ in range(sum(len(values) for values in options.values()) * max(len(invalid), 1) + 1):
        clash = next(
            ((a, x, b, y) for a, x, b, y in invalid if fixed.get(a) == x and fixed.get(b) == y), None
        )
        if clash is None:
            return fixed
        a, _, b, _ = clash
        if b in keep and a in keep:
            break
        move = b if b not in keep else a
        values = options[move]
        fixed[move] = values[(values.index(fixed[move]) + 1) % len(values)]
    raise ValueError(f"no possible answer set keeps {sorted(keep)} from {answers}")


def complete(
    rows: list[Answers],
    wanted: Iterable[Answers],
    base: Callable[[int], Answers],
    options: Options,
    invalid: Iterable[tuple[str, str, str, str]],
    keep: Iterable[str] = (),
) -> list[Answers]:
    """`rows` plus, for each possible partial answer set in `wanted` that no row holds, the next row of
    `base` with those values forced (and the options in `keep` left as `base` has them)."""
    invalid, rows, keep = list(invalid), list(rows), list(keep)
    for need in wanted:
        if is_valid(need, invalid) and not any(need.items() <= row.items() for row in rows):
            rows.append(repair(base(len(rows)) | need, options, invalid, keep=[*need, *keep]))
    return rows


def every_value(options: Options) -> list[Answers]:
    return [{key: value} for key, values in options.items() for value in values]


def fast_set(
    options: Options | None = None,
    invalid: Iterable[tuple[str, str, str, str]] = INVALID,
    pairs: Iterable[tuple[str, str]] = PAIRS,
) -> list[Answers]:
    """A few answer sets that render every value of every option and every combination of PAIRS."""
    options, invalid = options or choices(), list(invalid)
    longest = max(len(values) for values in options.values())
    rows = [repair(cycled(options, i), options, invalid) for i in range(longest)]
    wanted = every_value(options) + [
        {a: x, b: y} for a, b in pairs for x, y in itertools.product(options[a], options[b])
    ]
    return complete(rows, wanted, lambda i: cycled(options, i), options, invalid)


def running_python(options: Options) -> str:
    """The running interpreter's version when it is a choice, else the default python_version."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return version if version in options["python_version"] else options["python_version"][0]


def full_e2e_set(
    python_version: str | None = None,
    options: Options | None = None,
    invalid: Iterable[tuple[str, str, str, str]] = INVALID,
    product: Iterable[str] = E2E_PRODUCT,
) -> list[Answers]:
    """Every possible task x model x dataset, the other options cycled across them (each value at least
    once), and one python_version for all (default: the interpreter running the tests, as the bakes
    share one installed environment)."""
    options, invalid, product = options or choices(), list(invalid), list(product)
    version = python_version or running_python(options)
    if version not in options["python_version"]:
        raise ValueError(f"python_version {version!r} is not one of {options['python_version']}")
    combos = [
        combo
        for values in itertools.product(*(options[key] for key in product))
        if is_valid(combo := dict(zip(product, values, strict=True)), invalid)
    ]
    others = {
        key: values for key, values in options.items() if key not in product and key != "python_version"
    }

    def base(i: int) -> Answers:
        return combos[i % len(combos)] | cycled(others, i) | {"python_version": version}

    fixed = [*product, "python_version"]
    rows = [repair(base(i), options, invalid, keep=fixed) for i in range(len(combos))]
    return complete(rows, every_value(others), base, options, invalid, keep=fixed)


def _label(option: str, options: Options) -> str:
    """An option's short name in ids: its first word, or the whole name when another shares that word."""
    first = option.split("_")[0]
    return option if sum(key.split("_")[0] == first for key in options) > 1 else first


def _bare(option: str, options: Options) -> bool:
    """Values of `option` read alone in ids: each names only this option and is not yes/no or a number."""
    elsewhere = {value for key, values in options.items() if key != option for value in values}
    return all(
        value not in elsewhere and value not in ("yes", "no") and any(char.isalpha() for char in value)
        for value in options[option]
    )


def bake_id(answers: Answers, options: Options | None = None) -> str:
    """A short, stable, readable id: the values that differ from the defaults, in cookiecutter.json
    order, e.g. `python=3.12-regression-csv-dvc=s3-mlflow=server`; `default` for the defaults."""
    options = options or choices()
    parts = [
        value if _bare(key, options) else f"{_label(key, options)}={value}"
        for key, values in options.items()
        if (value := answers.get(key, values[0])) != values[0]
    ]
    parts += [f"{key}={'_'.join(str(answers[key]).split())}" for key in sorted(answers) if key not in options]
    return "-".join(parts) or "default"
