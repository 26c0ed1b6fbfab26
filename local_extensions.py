"""Cookiecutter extension loaded from the template: a refused answer reads as one line, not a traceback.

cookiecutter 2.7 logs a failed hook with `logger.exception`, so a bad answer that
hooks/pre_gen_project.py already explained in one line would be followed by cookiecutter's own
traceback. This filter drops the traceback of that one record; the message and exit code stay.
"""

from __future__ import annotations

import logging

from jinja2.ext import Extension


class _DropHookTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if "hook script didn't exit successfully" in str(record.msg):
            record.exc_info = None
            record.exc_text = None
        return True


class QuietHookFailure(Extension):
    """Installs the filter when cookiecutter builds its Jinja environment (before any hook runs)."""

    def __init__(self, environment):
        super().__init__(environment)
        hooks_logger = logging.getLogger("cookiecutter.hooks")
        if not any(isinstance(existing, _DropHookTraceback) for existing in hooks_logger.filters):
            hooks_logger.addFilter(_DropHookTraceback())
