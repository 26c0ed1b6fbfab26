"""The requirements logged with the model are pyproject.toml's own runtime dependencies, never a copy."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.tracking import MODEL_PACKAGES, canonical, pip_requirements

ROOT = Path(__file__).resolve().parents[1]


def declared() -> dict[str, str]:
    """pyproject.toml's runtime dependencies by canonical name, spaces dropped."""
    lines = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return {
        canonical(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group()): line.replace(" ", "")
        for line in lines
    }


def test_the_logged_models_requirements_are_pyprojects_lines_for_what_loading_it_needs():
    """A floor raised in pyproject.toml reaches the logged model (after `make setup` installs it)."""
    assert [line.replace(" ", "") for line in pip_requirements()] == [
        declared()[name] for name in MODEL_PACKAGES
    ]


def test_a_model_package_missing_from_the_dependencies_stops_the_logging(monkeypatch):
    monkeypatch.setattr(tracking.metadata, "requires", lambda _: ["scikit-learn>=1.6", "numpy>=2.0"])
    with pytest.raises(RuntimeError, match=r"do not name \['skops', 'pandas'\]"):
        pip_requirements()


def test_a_card_longer_than_the_registry_takes_is_cut_at_a_line_with_a_pointer_to_the_whole():
    card = "".join(f"| {row} | feature_{row} | 0.0123 ± 0.0004 |\n" for row in range(400))
    assert len(card) > tracking.DESCRIPTION_LIMIT
    described = tracking.registry_description(card)
    assert len(described) <= tracking.DESCRIPTION_LIMIT
    kept, note = described[: -len(tracking.CUT_NOTE)], described[-len(tracking.CUT_NOTE) :]
    assert note == tracking.CUT_NOTE
    assert "reports/MODEL_CARD.md" in note
    assert card.startswith(kept)
    assert kept.endswith("|\n"), "whole lines only"
    short = "# Model card\n\nshort\n"
    assert tracking.registry_description(short) == short
