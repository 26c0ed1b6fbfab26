"""The option matrix: unit tests of matrix.py, then the fast level, every answer set of fast_set() baked
once and checked statically (exact files, no Jinja, configs parse, Python compiles, ruff clean, and the
docs name only files and make targets that exist)."""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
import re
import sys
from pathlib import Path

import pytest

from expected_files import (
    COMMON_FILES,
    GENERATED,
    OPTION_FILES,
)
from harness.checks import (
    verify_configs_parse,
    verify_exact_files,
    verify_no_template_syntax,
    verify_python_compiles,
    verify_ruff_clean,
)
from matrix import (
    E2E_PRODUCT,
    PAIRS,
    bake_id,
    choices,
    covering,
    cycled,
    every_combination,
    fast_set,
    full_e2e_set,
    running_python,
)

OPTIONS = choices()
FAST = fast_set()

# ---------------------------------------------------------------------------------------------------------
# matrix.py


def covered(rows: list[dict[str, str]], option: str) -> set[str]:
    return {row[option] for row in rows}


def missing_pairs(rows: list[dict[str, str]], options: dict[str, list[str]], keys) -> set[tuple]:
    """The pairs of values of two of `keys` that no row holds."""
    return {
        (a, x, b, y)
        for a, b in itertools.combinations(keys, 2)
        for x, y in itertools.product(options[a], options[b])
        if not any(row[a] == x and row[b] == y for row in rows)
    }


def test_choices_are_the_list_valued_keys_of_cookiecutter_json_in_order(tmp_path):
    source = tmp_path / "cookiecutter.json"
    source.write_text(json.dumps({"name": "x", "b": ["2", "1"], "a": ["x"], "_hidden": ["y"], "__p": {}}))
    assert choices(source) == {"b": ["2", "1"], "a": ["x"]}
    assert "python_version" in OPTIONS
    assert "project_name" not in OPTIONS


def test_each_answer_set_is_complete_and_uses_real_values():
    for rows in (FAST, full_e2e_set()):
        for row in rows:
            assert set(row) == set(OPTIONS), bake_id(row)
            assert all(row[key] in OPTIONS[key] for key in OPTIONS), bake_id(row)


def test_the_fast_set_renders_every_value_of_every_option():
    for option, values in OPTIONS.items():
        assert covered(FAST, option) == set(values), option


def test_the_fast_set_is_cycled_not_multiplied():
    """The first bakes take the i-th value of each option modulo its length; then only what PAIRS adds."""
    longest = max(len(values) for values in OPTIONS.values())
    assert FAST[:longest] == [cycled(OPTIONS, i) for i in range(longest)]
    for option, values in OPTIONS.items():
        assert [row[option] for row in FAST[: len(values)]] == values, option
    most_pairs = sum(len(OPTIONS[a]) * len(OPTIONS[b]) for a, b in PAIRS)
    assert len(FAST) <= longest + most_pairs, "a handful of bakes, not the product of every option"


def test_cycling_moves_on_after_each_lap_so_equal_lengths_do_not_repeat_a_pairing():
    options = {"a": ["0", "1"], "b": ["x", "y", "z"]}
    assert [cycled(options, i) for i in range(3)] == [
        {"a": "0", "b": "x"}, {"a": "1", "b": "y"}, {"a": "1", "b": "z"},
    ]  # fmt: skip
    product = [{"k": "a"}, {"k": "b"}]  # an option multiplied elsewhere, alternating like `dataset`
    laps = [product[i % 2] | cycled({"v": ["0", "1"]}, i) for i in range(4)]
    assert {(row["k"], row["v"]) for row in laps} == {("a", "0"), ("b", "1"), ("a", "1"), ("b", "0")}


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_the_fast_set_holds_every_combination_of_each_pair(first, second):
    found = {(row[first], row[second]) for row in FAST}
    assert found == set(itertools.product(OPTIONS[first], OPTIONS[second]))


def test_a_value_added_to_cookiecutter_json_extends_both_sets():
    grown = OPTIONS | {
        "dvc_remote": [*OPTIONS["dvc_remote"], "hdfs", "webdav"],
        "task": [*OPTIONS["task"], "rank"],
    }
    fast, full = fast_set(grown), full_e2e_set("3.11", grown)
    assert {"hdfs", "webdav"} <= covered(fast, "dvc_remote")
    assert "rank" in covered(fast, "task")
    assert {"hdfs", "webdav"} <= covered(full, "dvc_remote")
    assert not missing_pairs(full, grown, E2E_PRODUCT), "the new task is baked with every model and dataset"
    assert len(full) == 3 * 3, "the two longest options multiplied: the dataset rides along"
    assert len(every_combination(grown)) == 3 * 3 * 2, "the parity check takes the whole product"


@pytest.mark.parametrize(
    "sizes", [(2, 3, 2), (2, 2, 2), (3, 3, 3), (4, 2, 3, 2), (2, 5), (3,), (2, 2, 2, 2, 2)], ids=str
)
def test_covering_holds_every_pair_in_few_rows(sizes):
    options = {f"k{i}": [f"v{j}" for j in range(size)] for i, size in enumerate(sizes)}
    rows = covering(options, list(options))
    assert not missing_pairs(rows, options, list(options))
    assert all(set(row) == set(options) for row in rows)
    assert len({tuple(row.items()) for row in rows}) == len(rows), "no row twice"
    two_longest = sorted(sizes, reverse=True)[:2]
    assert math.prod(two_longest) <= len(rows) <= max(math.prod(two_longest), math.prod(sizes) // 2)
    order = every_combination(options, list(options))
    assert rows[0] == order[0], "the defaults come first"
    assert [order.index(row) for row in rows] == sorted(order.index(row) for row in rows)


def test_covering_a_missing_pair_gets_a_row_of_its_own():
    """Three two-valued options: the greedy pass over the 4 rows of the first two leaves a pair of the third
    option uncovered, and a fifth row completes it."""
    options = {"a": ["0", "1"], "b": ["0", "1"], "c": ["0", "1"]}
    rows = covering(options, list(options))
    assert not missing_pairs(rows, options, list(options))
    assert len(rows) in (4, 5)


def test_the_end_to_end_set_covers_every_pair_of_task_model_dataset_and_cycles_the_rest():
    full = full_e2e_set()
    assert len(full) == 6, "3 models x 2 tasks, each dataset twice among them: half the product"
    assert not missing_pairs(full, OPTIONS, E2E_PRODUCT)
    assert [tuple(row[key] for key in E2E_PRODUCT) for row in full] == [
        ("classification", "random_forest", "demo"),
        ("classification", "gradient_boosting", "csv"),
        ("classification", "linear", "demo"),
        ("regression", "random_forest", "csv"),
        ("regression", "gradient_boosting", "demo"),
        ("regression", "linear", "csv"),
    ]
    for option in ("dvc_remote", "mlflow_tracking", "deploy", "scheduled_retraining", "license"):
        assert covered(full, option) == set(OPTIONS[option]), option
    assert {("demo", "server"), ("csv", "server")} <= {
        (row["dataset"], row["mlflow_tracking"]) for row in full
    }


def test_the_end_to_end_set_runs_on_the_running_python_but_one_set_per_other_version():
    running = running_python(OPTIONS)
    assert running in {f"{sys.version_info.major}.{sys.version_info.minor}", "3.11"}
    for version in (None, "3.13"):
        full = full_e2e_set(version)
        chosen = version or running
        versions = [row["python_version"] for row in full]
        assert versions[0] == chosen, "the defaults bake shares the running interpreter's environment"
        assert set(versions) == set(OPTIONS["python_version"])
        assert all(versions.count(other) == 1 for other in OPTIONS["python_version"] if other != chosen)
        assert versions.count(chosen) == len(full) - len(OPTIONS["python_version"]) + 1
    with pytest.raises(ValueError, match="not one of"):
        full_e2e_set("3.9")


def test_bake_ids_are_unique_stable_and_readable():
    for rows in (FAST, full_e2e_set(), full_e2e_set("3.13")):
        ids = [bake_id(row) for row in rows]
        assert len(set(ids)) == len(ids)
    assert bake_id({}) == bake_id(cycled(OPTIONS, 0)) == "default"
    answers = {"python_version": "3.12", "task": "regression", "dvc_remote": "s3", "deploy": "none"}
    assert bake_id(answers) == "python=3.12-regression-dvc=s3-deploy=none"
    assert bake_id({"scheduled_retraining": "no", "project_name": "Churn  Model"}) == (
        "scheduled=no-project_name=Churn_Model"
    )


# ---------------------------------------------------------------------------------------------------------
# The docs of a bake name only things that exist

# Backticked names that look like project paths but are not files (a git branch the deploy workflow uses).
NOT_PATHS = {"deploy/staging"}
# The first path segment of anything a project has or makes: a backticked word starting with another
# (`path/to/metrics.json`, `ghcr.io/<owner>/<repo>`, `test.csv`) is prose, not a path.
ROOTS = {
    path.split("/")[0]
    for path in [*COMMON_FILES, *GENERATED, "src/", *itertools.chain(*OPTION_FILES.values())]
}
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)
MAKE = re.compile(r"(?:^|[\s;(&|])make\s+([a-z0-9][\w-]*)")
TARGETS = re.compile(r"^([A-Za-z0-9][\w.-]*(?:[ \t]+[A-Za-z0-9][\w.-]*)*)[ \t]*:(?!=)", re.M)


def code_of(markdown: str) -> list[str]:
    """The fenced blocks and inline code spans of a Markdown text."""
    return [block or span for block, span in CODE.findall(markdown)]


def named_paths(markdown: str) -> set[str]:
    tokens = (
        token.lstrip("\"'(@").rstrip("\"'(),;.:") for code in code_of(markdown) for token in code.split()
    )
    return {
        token
        for token in tokens
        if token.split("/")[0] in ROOTS and "://" not in token and token not in NOT_PATHS
    }


def named_targets(markdown: str) -> set[str]:
    return {target for code in code_of(markdown) for target in MAKE.findall(code)}


def makefile_targets(makefile: str) -> set[str]:
    return {target for line in TARGETS.findall(makefile) for target in line.split()}


def exists(project: Path, name: str) -> bool:
    """In the bake, or written later by the pipeline (GENERATED), or a folder that holds one of those."""
    path = name.rstrip("/")
    if (project / path).exists() or (any(c in path for c in "*?[") and any(project.glob(path))):
        return True
    return any(
        path == pattern or fnmatch.fnmatch(path, pattern) or pattern.startswith(f"{path}/")
        for pattern in GENERATED
    )


def test_code_spans_name_paths_and_make_targets():
    text = (
        "Run `make setup` then `PORT=8080 make serve`; see `reports/metrics.json`, `test.csv`, `.github/`,\n"
        "`ghcr.io/<owner>/<repo>`, `make gate BASELINE=path/to/metrics.json` and `deploy/staging`.\n"
        "```bash\ncurl -d @reports/request_example.json http://x\ngit add dvc.lock data/*/.gitignore\n"
        "gh api --input .github/rulesets/main.json\nmake all\n```\nGNU make is needed; `make` targets."
    )
    assert named_paths(text) == {
        "reports/metrics.json", "reports/request_example.json", "dvc.lock", "data/*/.gitignore",
        ".github/rulesets/main.json", ".github/",
    }  # fmt: skip
    assert named_targets(text) == {"setup", "serve", "gate", "all"}
    makefile = ".PHONY: a b\nX := 1\nsetup: ## x\n\tuv sync\nrepro: train\nk8s-render: ## y\na b: c\n"
    assert makefile_targets(makefile) == {"setup", "repro", "k8s-render", "a", "b"}


def test_a_path_exists_in_the_bake_or_among_the_generated_ones(tmp_path):
    (tmp_path / "deploy/k8s").mkdir(parents=True)
    for name in (
        "deploy/k8s/",
        "deploy/k8s",
        "reports/",
        "reports/plots/",
        "data/raw/data.csv",
        "data/*/.gitignore",
    ):
        assert exists(tmp_path, name), name
    for name in ("deploy/argocd/", "reports/metric.json", "docs/guide.md"):
        assert not exists(tmp_path, name), name


# ---------------------------------------------------------------------------------------------------------
# The fast level: every answer set of fast_set(), baked once


@pytest.fixture(scope="module", params=FAST, ids=[bake_id(answers) for answers in FAST])
def answers(request) -> dict[str, str]:
    return request.param


@pytest.fixture(scope="module")
def project(answers, bake_answers) -> Path:
    return bake_answers(answers)


def test_bake_has_exactly_the_files_its_options_call_for(project, answers):
    verify_exact_files(project, answers)


def test_no_template_syntax_is_left_over(project):
    verify_no_template_syntax(project)


def test_every_toml_yaml_and_json_file_parses(project):
    verify_configs_parse(project)


def test_every_python_file_compiles(project):
    verify_python_compiles(project)


def test_ruff_check_and_format_find_nothing(project):
    verify_ruff_clean(project)


def test_docs_name_only_paths_and_make_targets_that_exist(project):
    targets = makefile_targets((project / "Makefile").read_text())
    for doc in sorted(project.glob("**/*.md")):
        if ".git" in doc.parts:
            continue
        text = doc.read_text()
        missing = sorted(name for name in named_paths(text) if not exists(project, name))
        assert missing == [], f"{doc.relative_to(project)} names paths the bake does not have"
        unknown = sorted(named_targets(text) - targets)
        assert unknown == [], f"{doc.relative_to(project)} names make targets the Makefile does not have"
