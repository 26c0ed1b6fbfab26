"""`make predict` on a trained csv bake: scores a file with the id kept and bad rows rejected, as make target
and as console command, and refuses bad input with one line, a non-zero exit and no output file."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from harness.bakes import make
from harness.tools import check, run, uv_available

pytestmark = [
    pytest.mark.lifecycle,
    pytest.mark.skipif(not uv_available(), reason="uv is needed to install the generated project"),
]


@pytest.fixture(scope="module")
def project(trained_bake):
    return trained_bake("csv")


@pytest.fixture
def rows(project) -> list[dict[str, str]]:
    """The held-out rows without the label, with a customer id, and two rows broken on purpose."""
    with (project / "data/prepared/test.csv").open(newline="") as handle:
        table = [{"customer": f"c{i:04d}", **row} for i, row in enumerate(csv.DictReader(handle))]
    for row in table:
        del row["churned"]
    table[2]["plan"] = "platinum"  # row 3: a category the model never saw
    table[40]["monthly_fee"] = "lots"  # row 41: text in a numeric column, after the first chunk
    return table


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("predict:")]


def test_make_predict_scores_keeps_the_id_and_rejects_broken_rows_with_row_and_rule(
    project, shared_env, rows, tmp_path
):
    source, output = tmp_path / "new customers.csv", tmp_path / "scored.csv"
    write(source, rows)
    result = make(project, "predict", f"INPUT={source}", f"OUTPUT={output}", "ID=customer", "CHUNK=16",
                  env=shared_env)  # fmt: skip
    check(result)
    scored, rejects = read(output), read(tmp_path / "scored.rejects.csv")
    assert len(scored) == len(rows) - 2
    assert set(scored[0]) == {"row", "customer", "prediction", "probability_no", "probability_yes"}
    kept = [row["customer"] for index, row in enumerate(rows) if index not in (2, 40)]
    assert [row["customer"] for row in scored] == kept
    assert {row["prediction"] for row in scored} <= {"yes", "no"}
    assert [(row["row"], row["rule"]) for row in rejects] == [
        ("3", "plan: not an allowed category"),
        ("41", "monthly_fee: not a number"),
    ]
    assert f"{len(rows) - 2} of {len(rows)} rows scored" in result.output


def test_the_console_command_scores_parquet_into_parquet(project, shared_env, rows, tmp_path):
    """The installed command `churn-model-predict`; Parquet written and read back by the bake's pandas."""
    python = ["uv", "run", "--no-sync", "python", "-c"]
    source, output = write(tmp_path / "in.csv", rows[3:40]), tmp_path / "out.parquet"
    convert = "import pandas, sys; pandas.read_csv(sys.argv[1]).to_parquet(sys.argv[2])"
    check(run([*python, convert, str(source), str(tmp_path / "in.parquet")], project, shared_env))
    command = ["uv", "run", "--no-sync", "churn-model-predict", str(tmp_path / "in.parquet"), str(output),
               "--id", "customer"]  # fmt: skip
    check(run(command, project, shared_env))
    count = "import pandas, sys; print(len(pandas.read_parquet(sys.argv[1])))"
    counted = run([*python, count, str(output)], project, shared_env)
    assert counted.output.split()[-1] == "37", str(counted)


@pytest.mark.parametrize(
    ("content", "variables", "problem"),
    [
        (None, [], "no such file"),
        (b"", [], "is empty"),
        (b"colour,size\nred,1\n", [], "has none of the schema's columns"),
        (b"tenure_months,monthly_fee,plan,region,support_calls\n1,2.0,b\xe9sic,north,1\n", [], "not UTF-8"),
        ("valid", ["MODEL=models:/no-such-model@champion"], "no-such-model@champion cannot be loaded"),
    ],
    ids=["missing file", "empty file", "no schema column", "not UTF-8", "model URI that does not resolve"],
)
def test_bad_input_is_one_line_a_non_zero_exit_and_no_output(
    project, shared_env, rows, tmp_path, content, variables, problem
):
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    if content == "valid":
        write(source, rows)
    elif content is not None:
        source.write_bytes(content)
    result = make(project, "predict", f"INPUT={source}", f"OUTPUT={output}", *variables, env=shared_env)
    assert result.returncode != 0
    assert "Traceback" not in result.output, str(result)
    said = lines_of(result.output)
    assert len(said) == 1, str(result)
    assert problem in said[0], str(result)
    assert sorted(path.name for path in tmp_path.iterdir()) == (["in.csv"] if content is not None else [])


def test_make_variables_reach_the_command_as_data_not_shell_code(project, shared_env, tmp_path):
    marker = tmp_path / "marker"
    hostile = f"x.csv; touch {marker}; $(touch {marker})"
    result = make(project, "predict", f"INPUT={hostile}", f"OUTPUT={tmp_path / 'o.csv'}", env=shared_env)
    assert result.returncode != 0
    assert not marker.exists(), "INPUT ran as shell code"
    assert "x.csv; touch" in lines_of(result.output)[0]


@pytest.mark.timing
@pytest.mark.skipif(
    not os.environ.get("BENCH_PREDICT_ROWS"),
    reason="manual: BENCH_PREDICT_ROWS=1000000 (minutes, and meaningful only on a quiet machine)",
)
def test_make_predict_on_a_large_file_costs_little_more_than_one_in_process_pass(trained_bake, shared_env):
    """(make predict on N rows - make predict on 10 rows) <= 1.25x one in-process pass; peak < 1.5 GiB."""
    project = trained_bake("default")
    result = make(project, "bench-predict", f"ROWS={os.environ['BENCH_PREDICT_ROWS']}", env=shared_env)
    print(result.output[-3000:])
    check(result)
    measured = json.loads((project / "reports/bench-predict.json").read_text())
    assert measured["ratio"] <= 1.25
    assert measured["peak_memory_mib"] < 1536
