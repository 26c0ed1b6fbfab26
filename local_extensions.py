"""Jinja extension loaded from the template (cookiecutter.json `_extensions`): answers stay data.

cookiecutter builds its Jinja environment, and so instantiates this extension, before it renders any
value; the extension then installs five guards:

1. Answers are data. cookiecutter 2.x renders every value of the context as a template
   (`cookiecutter.prompt.render_variable`) in an unsandboxed environment, including answers given with
   `--no-input`, `key=value` or `extra_context`, defaults from a user's config file, and the answers
   `cruft update` replays, so `{{ 7*7 }}` typed into a name became 49 and
   `{{ cycler.__init__.__globals__.os.popen(...) }}` ran a command. Now only the strings of this
   template's cookiecutter.json are rendered (the `project_slug` default still slugifies `project_name`);
   any other value is returned as given. Answers typed at a prompt were never rendered.
2. The environment is a `jinja2.sandbox.SandboxedEnvironment`, so if a value ever reaches the renderer
   another way, `__globals__`, `mro`, unsafe `str.format` and the like are refused.
3. `tojson` writes text that is at once JSON, a TOML basic string and a YAML double-quoted scalar:
   non-ASCII text stays UTF-8 (JSON's `\\ud83d\\ude80` surrogate escapes are invalid in TOML and decode
   to garbage in YAML), and invisible or control characters are escaped as `\\uXXXX`.
4. A refused answer reads as one line: cookiecutter 2.7 logs a failed hook with `logger.exception`, so
   the line hooks/pre_gen_project.py printed was followed by a traceback; the traceback is dropped.
5. A project folder name that is a path (a slug such as `a/b`, `..`) is refused with the pre-gen hook's
   own messages before cookiecutter creates any folder, since the hook itself only runs afterwards.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension
from jinja2.sandbox import SandboxedEnvironment, safe_range

_NON_ASCII = re.compile(r"[^\x00-\x7e]")


class _DropHookTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if "hook script didn't exit successfully" in str(record.msg):
            record.exc_info = None
            record.exc_text = None
        return True


def _quiet_hook_failures() -> None:
    hooks_logger = logging.getLogger("cookiecutter.hooks")
    if not any(isinstance(existing, _DropHookTraceback) for existing in hooks_logger.filters):
        hooks_logger.addFilter(_DropHookTraceback())


def template_dir() -> Path:
    """The template being rendered.

    cookiecutter (`_patch_import_path_for_repo`) and cruft (`AltTemporaryDirectory`) append the template's
    folder to sys.path to import this module, and Python imports it only once per process, so the last
    such folder on sys.path is the template of this bake even when `__file__` belongs to an earlier one.
    """
    for entry in reversed(sys.path):
        folder = Path(entry or ".")
        if (folder / "cookiecutter.json").is_file() and (folder / "local_extensions.py").is_file():
            return folder.resolve()
    return Path(__file__).resolve().parent


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def own_strings(folder: Path) -> frozenset[str]:
    """Every string in the template's cookiecutter.json: the only values that may be rendered."""
    return frozenset(_strings(json.loads((folder / "cookiecutter.json").read_text(encoding="utf-8"))))


def _answers_stay_data(render_variable: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(render_variable)
    def render_own_strings_only(env: Environment, raw: Any, cookiecutter_dict: dict) -> Any:
        own = getattr(env, "template_strings", None)
        if own is not None and isinstance(raw, str) and raw not in own:
            return raw  # an answer: data, never a template
        return render_variable(env, raw, cookiecutter_dict)

    render_own_strings_only.answers_stay_data = True  # type: ignore[attr-defined]
    return render_own_strings_only


def _install_answers_stay_data() -> None:
    """Wrap `cookiecutter.prompt.render_variable`; environments without this extension are unaffected.

    `prompt_for_config` and `prompt_choice_for_config` look the function up at call time, and so does
    `render_variable` itself for the items of a dict, so the wrapper sees every value that is rendered.
    """
    try:
        from cookiecutter import prompt
    except ImportError:  # rendered by plain Jinja: nothing renders answers
        return
    current = getattr(prompt, "render_variable", None)
    if current is not None and not getattr(current, "answers_stay_data", False):
        prompt.render_variable = _answers_stay_data(current)


@functools.cache
def _sandboxed_class(base: type[Environment]) -> type[Environment]:
    return type(f"Sandboxed{base.__name__}", (SandboxedEnvironment, base), {})


def _sandbox(environment: Environment) -> None:
    """Turn cookiecutter's environment into a sandboxed one, as if `SandboxedEnvironment` had built it.

    The compiler reads `environment.sandboxed` when a template is compiled, so this must happen before
    anything is rendered, which an extension's __init__ guarantees.
    """
    if isinstance(environment, SandboxedEnvironment):
        return
    environment.__class__ = _sandboxed_class(type(environment))
    # What SandboxedEnvironment.__init__ adds to Environment.__init__:
    environment.globals["range"] = safe_range
    environment.binop_table = dict(SandboxedEnvironment.default_binop_table)
    environment.unop_table = dict(SandboxedEnvironment.default_unop_table)


def _escape_invisible(match: re.Match[str]) -> str:
    char = match.group()
    # Characters above U+FFFF have no escape common to JSON and TOML; every one of them is valid raw.
    return char if char.isprintable() or ord(char) > 0xFFFF else f"\\u{ord(char):04x}"


def portable_json_dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps whose strings are also valid TOML basic strings and YAML double-quoted scalars.

    json.dumps escapes quotes, backslashes and C0 controls; with `ensure_ascii` it also turns an emoji
    into a surrogate pair that TOML refuses. Here non-ASCII stays UTF-8, and what is not printable
    (DEL, C1 controls, bidi overrides, zero-width and separator characters, lone surrogates) becomes
    `\\uXXXX`, which all three formats read back as the same character. Only strings can hold such
    characters, so the JSON structure is untouched.
    """
    return _NON_ASCII.sub(_escape_invisible, json.dumps(obj, **{**kwargs, "ensure_ascii": False}))


def _hook_problems(answers: dict) -> list[str]:
    """The pre-gen hook's own checks (hooks/pre_gen_project.py `problems`), run in this process."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_template_pre_gen", template_dir() / "hooks/pre_gen_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.problems(answers)


def _project_folder_first(render_and_create_dir: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(render_and_create_dir)
    def guarded(
        dirname: str, context: dict, output_dir: Any, environment: Environment, *args: Any, **kw: Any
    ):
        own = getattr(environment, "template_strings", None) is not None
        if own and "cookiecutter.project_slug" in str(dirname):
            rendered = environment.from_string(dirname).render(**context)
            if "/" in rendered or "\\" in rendered or rendered in (".", ".."):
                from cookiecutter.exceptions import FailedHookException

                found = _hook_problems(context["cookiecutter"]) or [f"project_slug {rendered!r} is not valid"]
                for message in found:
                    print(f"ERROR: {message}", file=sys.stderr)
                raise FailedHookException("Stopping generation: the answers are not valid (see above)")
        return render_and_create_dir(dirname, context, output_dir, environment, *args, **kw)

    guarded.project_folder_first = True  # type: ignore[attr-defined]
    return guarded


def _install_project_folder_first() -> None:
    """Check the project folder's name before cookiecutter creates it (the pre-gen hook runs after).

    A slug such as `a/b` would otherwise create `a/`, which cookiecutter does not remove when the hook
    refuses the answer; `generate_files` looks `render_and_create_dir` up at call time.
    """
    try:
        from cookiecutter import generate
    except ImportError:
        return
    current = getattr(generate, "render_and_create_dir", None)
    if current is not None and not getattr(current, "project_folder_first", False):
        generate.render_and_create_dir = _project_folder_first(current)


class TemplateGuards(Extension):
    """Answers stay data, the environment is sandboxed, `tojson` fits TOML and YAML, refusals are one line."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        _sandbox(environment)
        environment.policies["json.dumps_function"] = portable_json_dumps
        environment.extend(template_strings=own_strings(template_dir()))
        _install_answers_stay_data()
        _install_project_folder_first()
        _quiet_hook_failures()
