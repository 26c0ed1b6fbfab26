# The template's tasks. `make demo` bakes the defaults and runs the generated project's lifecycle;
# `make test` runs the template's tests. Both install what they need (uv first, if missing).
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

export UV_PYTHON_DOWNLOADS ?= never
export UV_COMPILE_BYTECODE ?= 1
# The template's environment (with uv itself) comes first on PATH for the generated projects too.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PYTEST_ARGS ?=
# Workers for the tests that do not measure speed. The end-to-end tests wait on installs, servers and
# subprocesses much of the time, so three keep two cores busy (docs/decisions.md).
TEST_WORKERS ?= 3
# The units of work those workers take come from the scheduler in tests/conftest.py.
ON_WORKERS = -n "$(TEST_WORKERS)" --dist loadscope --no-loadscope-reorder
# The installed environments the bakes share, one per worker, kept between runs and between the two passes
# of `make test` (`uv sync` only brings them up to the lock); `make clean` removes them.
export TEST_ENVS ?= $(CURDIR)/.test-envs

.PHONY: help setup system-tools demo test test-fast lint format clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.9"
	@if command -v uv >/dev/null 2>&1; then uv sync --locked; else python3 -m uv sync --locked; fi
	@touch $@

setup: .venv/.synced ## install the template's dev environment (cookiecutter, pytest, ruff, uv)

system-tools: ## kubectl and PostgreSQL's binaries for the tests (apt-get as root; otherwise says what to install)
	@scripts/install-system-tools

demo: setup ## bake the defaults into build/demo and run setup, train, gate, test, serve one prediction
	python scripts/demo.py build/demo

test: setup system-tools ## the template's tests: hooks, bakes, bad answers, and bakes run end to end (TEST_WORKERS)
	pytest -m "not timing" $(ON_WORKERS) $(PYTEST_ARGS)
	pytest -m timing $(PYTEST_ARGS)

test-fast: setup system-tools ## the tests that only bake and inspect (no install)
	pytest -m "not lifecycle" $(ON_WORKERS) $(PYTEST_ARGS)

lint: setup ## ruff on the template's own code
	ruff check .
	ruff format --check .

format: setup ## ruff fixes and formatting on the template's own code
	ruff check --fix .
	ruff format .

clean: ## remove the dev environment, the tests' environments and demo bakes
	rm -rf .venv .test-envs build .pytest_cache .ruff_cache
