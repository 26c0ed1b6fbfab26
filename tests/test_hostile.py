"""Hostile free-text answers stay data: nothing runs, every value lands verbatim, every baked file parses.

cookiecutter renders `--no-input`, `key=value` and `extra_context` answers as Jinja templates;
local_extensions.py keeps answers literal, sandboxes the environment and makes `tojson` fit TOML and YAML.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from jinja2.sandbox import SecurityError
from slugify import slugify

from harness.bakes import bake
from harness.checks import verify_configs_parse, verify_python_compiles, verify_ruff_clean
from harness.tools import TEMPLATE

SENTINEL = "<tmp>"  # replaced by a folder that must stay empty: each payload tries to create a file in it
PAYLOADS = {
    "quotes and unicode": 'O\'Brien "quoted" \\back\\slash C:\\new\\table `echo hi` Ünïcødé '
    "שלום مرحبا 🚀🤖 \u202eRTL\u00a0nbsp second line",
    "shell and python": "$(touch <tmp>/pwned) ; __import__('os').system('touch <tmp>/pwned3')",
    "jinja expressions": "{{ 7*7 }} {{ cycler.__init__.__globals__.os.popen('touch <tmp>/pwned2').read() }}",
    "jinja blocks": "{% raw %} {# comment #} {% if x %}",
}
FIELDS = ("project_name", "description", "author_name")
# The payloads rotated over the three fields: over the four api bakes each payload reaches each field;
# the two cli bakes carry every payload once.
ROTATIONS = {f"api-{i}": [list(PAYLOADS)[(i + k) % len(PAYLOADS)] for k in range(3)] for i in range(4)}
ROTATIONS |= {f"cli-{i}": ROTATIONS[f"api-{i}"] for i in (0, 2)}


def answers_for(bake_name: str, sentinel: Path) -> dict[str, str]:
    values = {field: PAYLOADS[payload] for field, payload in zip(FIELDS, ROTATIONS[bake_name], strict=True)}
    # An explicit slug: one derived from these names is too long for the generated code's line length.
    return {field: value.replace(SENTINEL, str(sentinel)) for field, value in values.items()} | {
        "project_slug": f"hostile-{bake_name}"
    }


def bake_with_cli(output_dir: Path, answers: dict[str, str]) -> Path:
    output_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(output_dir)]
    pairs = [f"{key}={value}" for key, value in answers.items()]
    result = subprocess.run(
        [*command, str(TEMPLATE), *pairs], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (project,) = output_dir.iterdir()
    return project


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sentinel")


@pytest.fixture(scope="module")
def hostile_bakes(tmp_path_factory, sentinel) -> dict[str, tuple[dict[str, str], Path]]:
    """Every rotation baked once, through the Python API or the CLI; name -> (answers, project)."""
    root = tmp_path_factory.mktemp("hostile")
    baked = {}
    for name in ROTATIONS:
        answers, folder = answers_for(name, sentinel), root / name
        project = bake(folder, **answers) if name.startswith("api") else bake_with_cli(folder, answers)
        baked[name] = answers, project
    return baked


@pytest.fixture(params=list(ROTATIONS))
def hostile(request, hostile_bakes) -> tuple[dict[str, str], Path]:
    return hostile_bakes[request.param]


def test_no_answer_runs_code(hostile_bakes, sentinel):
    assert sorted(path.name for path in sentinel.iterdir()) == []


def test_each_answer_lands_verbatim_in_readme_metadata_license_and_cruft_record(hostile):
    answers, project = hostile
    name, description, author = (answers[field] for field in FIELDS)
    assert (project / "README.md").read_text().startswith(f"# {name}\n\n{description}\n")
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert (metadata["name"], metadata["description"]) == (answers["project_slug"], description)
    assert metadata["authors"][0]["name"] == author
    assert author in (project / "LICENSE").read_text()
    recorded = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert {field: recorded[field] for field in FIELDS} == {field: answers[field] for field in FIELDS}


def test_every_config_file_parses_and_every_python_file_compiles(hostile):
    _, project = hostile
    verify_configs_parse(project)
    verify_python_compiles(project)


def test_ruff_finds_nothing_in_a_hostile_bake(hostile):
    _, project = hostile
    verify_ruff_clean(project, formatted=False)


def test_derived_defaults_render_from_the_literal_answer(monkeypatch, tmp_path):
    """The template's own `project_slug` default still renders; the name it slugifies is taken as typed."""
    monkeypatch.syspath_prepend(str(TEMPLATE))  # where cookiecutter and cruft put the template
    name = "Hostile " + PAYLOADS["jinja expressions"].replace(SENTINEL, str(tmp_path))
    context = generate_context(str(TEMPLATE / "cookiecutter.json"), extra_context={"project_name": name})
    answers = prompt_for_config(context, no_input=True)
    assert answers["project_name"] == name
    assert answers["project_slug"] == slugify(name, max_length=32, word_boundary=True)
    assert answers["project_slug"] == "hostile-7-7-cycler-init-globals"
    assert answers["package_name"] == answers["project_slug"].replace("-", "_")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def environment():
    """cookiecutter's own Jinja environment with the template's extension, as a bake builds it."""
    spec = importlib.util.spec_from_file_location("local_extensions", TEMPLATE / "local_extensions.py")
    guards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guards)
    environment = StrictEnvironment(keep_trailing_newline=True)
    guards.TemplateGuards(environment)
    return environment


@pytest.mark.parametrize(
    "source",
    [
        "{{ cycler.__init__.__globals__.os.popen('touch <tmp>/sandbox').read() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ 'x' | attr('__class__') }}",
        "{{ '{0.__class__.__init__.__globals__}'.format(1) }}",
    ],
)
def test_the_environment_refuses_unsafe_attributes_if_a_value_is_ever_rendered(environment, source, tmp_path):
    with pytest.raises(SecurityError):
        environment.from_string(source.replace(SENTINEL, str(tmp_path))).render()
    assert list(tmp_path.iterdir()) == []


def test_the_template_expressions_still_render_in_the_sandbox(environment):
    context = {"project_name": "Churn Model", "project_slug": "churn-model", "python_version": "3.12"}
    rendered = environment.from_string(
        "{{ cookiecutter.project_name | slugify }} {{ cookiecutter.project_slug.replace('-', '_') }} "
        "py{{ cookiecutter.python_version.replace('.', '') }} {{ {'a': 1}.get('a') }} {% now 'utc', '%Y' %}"
    ).render(cookiecutter=context)
    assert rendered.split()[:4] == ["churn-model", "churn_model", "py312", "1"]


def test_tojson_writes_a_string_that_json_toml_and_yaml_read_back_unchanged(environment):
    value = "Ünï 🚀 שלום \u202e\u200b\u00a0\x7f\x85\u2028 \"q\" 'a' \\ <&>\n\tend"
    rendered = environment.from_string("key = {{ value | tojson }}").render(value=value)
    assert json.loads(rendered.removeprefix("key = ")) == value
    assert tomllib.loads(rendered)["key"] == value
    assert yaml.safe_load(rendered.replace(" = ", ": ", 1))["key"] == value
    assert "🚀" in rendered, "non-ASCII text stays readable"
