"""Fixtures for the template's tests: baked projects and one installed environment, made once per session."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.bakes import bake, template_digest, trained, trained_copy, write_team_csv
from harness.processes import WRITE_BYTECODE_ON_IMPORT
from matrix import bake_id

# `make test` runs the tests on several workers (pytest-xdist, `--dist loadscope`, with the scheduler
# below). Each module is one unit of work, kept on one worker, because its tests share module fixtures (a
# trained bake, servers, an act runner). The tests named in SPREAD share nothing between their parameters
# (each bakes and installs its own project), so each parameter is a unit of its own, for any worker.
SPREAD = ("tests/test_lifecycle.py::test_generated_project_lifecycle[",)
# Units start in this order, the longest first, so that no long one is left to run alone at the end; the
# rest follow in collection order. A name missing here only costs time.
LONGEST_FIRST = ("test_act_data", "test_servers", "test_act_workflows", "test_lifecycle", "test_serving")


def unit_of_work(nodeid: str) -> str:
    """The test's module, or the test itself when it is in SPREAD."""
    return nodeid if nodeid.startswith(SPREAD) else nodeid.split("::", 1)[0]


def pytest_xdist_make_scheduler(config, log):
    """Units of work by `unit_of_work`. xdist's own `loadgroup` would do with `xdist_group` marks, but it
    passes the group by rewriting test ids, which pytest 9.2 no longer allows (pytest-xdist issue 1386):
    the marks are silently ignored and a module's tests land on every worker."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByUnitOfWork(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)

    return ByUnitOfWork(config, log)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> tuple[int, int]:
        name = item.module.__name__
        first = LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
        return (first, 0 if item.get_closest_marker("lifecycle") else 1)

    items.sort(key=rank)  # stable: collection order within a rank


def pytest_configure(config):
    """One BentoML home per session (per worker): `bentoml serve` empties $BENTOML_HOME's Prometheus folder
    when it starts, which would wipe the metrics of a service that another worker is scraping."""
    if "BENTOML_HOME" not in os.environ:
        home = tempfile.mkdtemp(prefix="bentoml-home-")
        os.environ["BENTOML_HOME"] = home
        config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))


# The CPU each test costs (this process and the subprocesses it waited for: bakes, installs, servers), from
# its setup to its teardown: on a 2-core machine the run is bound by CPU, not by the tests' wall times.
CPU_KEY = "cpu_seconds"


def pytest_addoption(parser):
    parser.addoption("--cpu-top", type=int, default=10, help="tests listed by the CPU they cost (0: all)")


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


CPU_START = pytest.StashKey[float]()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[CPU_START] = cpu_seconds()  # before the fixtures: what they cost is the test's too
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "teardown" and CPU_START in item.stash:
        spent = round(cpu_seconds() - item.stash[CPU_START], 1)
        outcome.get_result().user_properties.append((CPU_KEY, spent))


def pytest_terminal_summary(terminalreporter, config):
    """The --cpu-top tests that used the most CPU, after pytest's --durations (which shows wall time)."""
    teardowns = [
        report
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "teardown"
    ]
    spent = [
        (dict(report.user_properties)[CPU_KEY], report.nodeid)
        for report in teardowns
        if CPU_KEY in dict(report.user_properties)
    ]
    if not spent:
        return
    total = sum(seconds for seconds, _ in spent)
    terminalreporter.write_sep("=", f"most CPU (user + system, with subprocesses): {total:.0f} s in all")
    for seconds, nodeid in sorted(spent, reverse=True)[: config.getoption("cpu_top") or None]:
        terminalreporter.write_line(f"{seconds:8.1f}s {nodeid}")


# The bakes that issue-level tests inspect and run end to end, by name.
BAKES: dict[str, dict[str, str]] = {
    "default": {},
    "regression": {"task": "regression", "project_name": "Diabetes Regressor"},
    "csv": {
        "dataset": "csv",
        "target_column": "churned",
        "project_name": "Churn Model",
        "model": "gradient_boosting",
    },
}


def write_data(project: Path, answers: dict[str, str]) -> Path:
    """A named bake's data: the team CSV for dataset=csv (the demo bakes load theirs at prepare)."""
    if answers.get("dataset") == "csv":
        write_team_csv(project / "data/raw/data.csv", "classification", answers["target_column"])
    return project


@pytest.fixture(scope="session")
def bakes_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bakes")


@pytest.fixture(scope="session")
def baked(bakes_dir):
    """Bake each named option set once per session, on first use; returns name -> project path."""
    projects: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in projects:
            projects[name] = write_data(bake(bakes_dir / name, **BAKES[name]), BAKES[name])
        return projects[name]

    return get


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory) -> Path:
    """Where a run keeps the one trained bake of each name that its workers copy: under $TEST_ENVS, where
    the second pass of `make test` (and a later run of the same template) finds them too, else in the
    session's temporary folder, which xdist's workers share."""
    if os.environ.get("TEST_ENVS"):
        return Path(os.environ["TEST_ENVS"]) / "trained"
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "trained"


@pytest.fixture(scope="session")
def trained_bake(trained_store, shared_env, tmp_path_factory):
    """BAKES[name] set up and trained: a copy of the run's one trained bake of that name, so the workers
    and the speed pass train it once instead of once each. One copy per worker, shared like `baked`'s;
    `own=True` gives a copy of one's own. The store is keyed by the template's files and the answers. Each
    call runs `make setup` (other bakes point the shared environment elsewhere) and a no-op `make train`."""
    copies: dict[str, Path] = {}
    harness = (Path(__file__).parent / "harness/bakes.py").read_text()  # write_team_csv is part of a bake

    def get(name: str, own: bool = False) -> Path:
        if own or name not in copies:
            answers = BAKES[name]
            store = trained_store / f"{name}-{template_digest(json.dumps(answers, sort_keys=True), harness)}"
            copy = trained_copy(
                store,
                tmp_path_factory.mktemp(f"trained-{name}"),
                shared_env,
                lambda folder: write_data(bake(folder, **answers), answers),
            )
            if own:
                return copy
            copies[name] = copy
            return copy
        return trained(copies[name], shared_env)  # points the environment back at this copy

    return get


@pytest.fixture(scope="session")
def bake_answers(bakes_dir):
    """Bake an answer set (e.g. one of matrix.fast_set()) once per session, on first use; returns the
    project path. No CSV is written for dataset=csv: a test that trains adds one (support.write_team_csv)."""
    projects: dict[str, Path] = {}

    def get(answers: dict[str, str]) -> Path:
        name = bake_id(answers)
        if name not in projects:
            projects[name] = bake(bakes_dir / "matrix" / name, **answers)
        return projects[name]

    return get


@pytest.fixture(scope="session")
def shared_env(tmp_path_factory) -> dict[str, str]:
    """One installed environment for every bake: `uv sync` into it only swaps the project itself. Under
    $TEST_ENVS (set by `make test`) each worker keeps its own between runs, and a run without workers (the
    second pass) takes the first worker's; otherwise a fresh one per session."""
    root = os.environ.get("TEST_ENVS")
    if root:
        venv = Path(root) / os.environ.get("PYTEST_XDIST_WORKER", "gw0") / "venv"
    else:
        venv = tmp_path_factory.mktemp("shared-env") / "venv"
    return {
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
        "VIRTUAL_ENV": str(venv),
        **WRITE_BYTECODE_ON_IMPORT,
    }


@pytest.fixture(scope="module")
def timings(request) -> dict:
    """Seconds per step, recorded by a module's tests and printed when the module is done."""
    recorded: dict = {}
    yield recorded
    print(f"\n{request.module.__name__} timings (s): " + json.dumps(recorded, indent=1))
