"""The option matrix the template's tests bake, derived from cookiecutter.json (pure functions).

How an answer set list is built (the product of the choices, cycled where options do not interact):

- choices: every list-valued key of cookiecutter.json not starting with "_"; adding a value there adds
  it to every set below.
- cycled, not multiplied: options that do not interact are cycled. Answer set i takes, for each option of
  length L, the value at (i + i // L) % L: the plain i-th value modulo L for the first L sets, then moved
  on by one value each time the option wraps round, so that options whose lengths divide each other do
  not repeat the same pairing lap after lap. The number of sets is the longest option's length.
- multiplied where it matters: combinations that change the same files are completed explicitly
  (PAIRS for the fast set); the end-to-end set holds every pair of task, model and dataset values
  (`covering`: 6 bakes where the product is 12). The generated package is the same for every task, model
  and dataset (only params.yaml, dvc.yaml and the README differ), and the compiled model's parity, the
  one result that depends on all three at once, is checked for the whole product in one process
  (`every_combination`, tests/test_lifecycle.py).
- python_version: the end-to-end sets run on the interpreter running the tests and share its installed
  environment, except one set per other supported version, which installs its own.
- every combination of values is possible: each option adds or removes its own files, and the pre-gen
  hook checks free-text answers one by one, never a pair (dataset=csv with the default target_column
  "target" is possible: the column name is the user's to choose). An impossible pair would need a filter
  here and a refusal in the hook.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable
from pathlib import Path

COOKIECUTTER_JSON = Path(__file__).resolve().parents[1] / "cookiecutter.json"

Answers = dict[str, str]
Options = dict[str, list[str]]

# Options whose values shape the same files, so the fast set holds every combination of each pair:
# task x dataset (the demo dataset, the README and params.yaml depend on both) and task x model (the
# estimator block in params.yaml is a classifier or a regressor).
PAIRS: list[tuple[str, str]] = [("task", "dataset"), ("task", "model")]

# Covered pairwise in the end-to-end set (every pair of values installed, trained, tested and served) and
# multiplied for the compiled model's parity.
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


def cycled_index(i: int, length: int) -> int:
    """The value answer set i takes from an option of `length` values (see the module docstring)."""
    return (i + i // length) % length


def cycled(options: Options, i: int) -> Answers:
    """Answer set i of the cycle over `options`."""
    return {key: values[cycled_index(i, len(values))] for key, values in options.items()}


def every_value(options: Options) -> list[Answers]:
    return [{key: value} for key, values in options.items() for value in values]


def fast_set(options: Options | None = None, pairs: Iterable[tuple[str, str]] = PAIRS) -> list[Answers]:
    """A few answer sets that render every value of every option and every combination of PAIRS: the
    cycle over the longest option, then, for each value or pair no set holds yet, the next set of the
    cycle with it forced."""
    options = options or choices()
    longest = max(len(values) for values in options.values())
    rows = [cycled(options, i) for i in range(longest)]
    wanted = every_value(options) + [
        {a: x, b: y} for a, b in pairs for x, y in itertools.product(options[a], options[b])
    ]
    for need in wanted:
        if not any(need.items() <= row.items() for row in rows):
            rows.append(cycled(options, len(rows)) | need)
    return rows


def running_python(options: Options) -> str:
    """The running interpreter's version when it is a choice, else the default python_version."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return version if version in options["python_version"] else options["python_version"][0]


def every_combination(options: Options | None = None, keys: Iterable[str] = E2E_PRODUCT) -> list[Answers]:
    """The product of `keys`' values, in cookiecutter.json order (the defaults first)."""
    options, keys = options or choices(), list(keys)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(options[k] for k in keys))]


def covering(options: Options | None = None, keys: Iterable[str] = E2E_PRODUCT) -> list[Answers]:
    """Answer sets over `keys` that hold every pair of values of any two of them (a covering array of
    strength 2), built greedily: the product of the two longest options, then each further option takes,
    row by row, the value that completes the most pairs not yet held (the first such value on a tie), and a
    pair still missing gets a row of its own. Rows come in the order of `every_combination`, so the first
    is the defaults. For task x model x dataset (2, 3, 2 values): 6 rows instead of 12."""
    options, keys = options or choices(), list(keys)
    if len(keys) < 2:
        return every_combination(options, keys)
    first, second, *rest = sorted(keys, key=lambda key: -len(options[key]))  # stable: ties keep order
    rows = [{first: a, second: b} for a, b in itertools.product(options[first], options[second])]
    for key in rest:
        held: set[tuple[str, str, str]] = set()  # (earlier key, its value, this key's value)
        for row in rows:
            value = max(options[key], key=lambda v: sum((k, row[k], v) not in held for k in row))
            held.update((k, row[k], value) for k in row)
            row[key] = value
        for other in [k for k in rows[0] if k != key]:
            for a, v in itertools.product(options[other], options[key]):
                if (other, a, v) not in held:
                    rows.append(next(row for row in rows if row[other] == a) | {key: v})
                    held.update((k, rows[-1][k], v) for k in rows[-1] if k != key)
    order = {tuple(row.items()): i for i, row in enumerate(every_combination(options, keys))}
    return sorted(({k: row[k] for k in keys} for row in rows), key=lambda row: order[tuple(row.items())])


def full_e2e_set(
    python_version: str | None = None, options: Options | None = None, product: Iterable[str] = E2E_PRODUCT
) -> list[Answers]:
    """Every pair of task, model and dataset values (`covering`), the other options cycled across them.
    python_version: `python_version` (default: the interpreter running the tests) in every set but one per
    other supported version, which sets 1, 2, ... take in turn. The sets on the running interpreter share
    one installed environment; each other version installs its own, once. Set i takes the i-th value of
    an option of length L for i < L, so there are at least as many sets as the longest option has values:
    each value is baked at least once."""
    options, product = options or choices(), list(product)
    version = python_version or running_python(options)
    if version not in options["python_version"]:
        raise ValueError(f"python_version {version!r} is not one of {options['python_version']}")
    combos = covering(options, product)
    others = {
        key: values for key, values in options.items() if key not in product and key != "python_version"
    }
    versions = [version, *(v for v in options["python_version"] if v != version)]
    count = max(len(combos), len(versions), *(len(values) for values in others.values()))
    return [
        combos[i % len(combos)]
        | cycled(others, i)
        | {"python_version": versions[i] if i < len(versions) else version}
        for i in range(count)
    ]


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
