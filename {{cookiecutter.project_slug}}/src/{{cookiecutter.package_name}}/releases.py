"""Releases in the MLflow registry: which model version shipped as which tag and image, rollback, retirement.

The release workflow tags the model version it promotes (`release.tag`, `release.image`); rollback finds
the version of a tag again and moves alias `production` back to it; retirement strips a version's aliases
and marks it deprecated, after which neither promotion nor rollback will point an alias at it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from .tracking import REGISTERED_MODEL, configure

PRODUCTION = "production"
TAG_KEY = "release.tag"
IMAGE_KEY = "release.image"
DEPRECATED_KEY = "deprecated"
RELEASE_TAG = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]+)?")
# What set_image.py accepts for production: a lowercase repository pinned by sha256 digest.
IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}")


class ReleaseError(RuntimeError):
    """A release that cannot be recorded or returned to; the message says why, in one line."""


def check_tag(tag: str) -> str:
    if not RELEASE_TAG.fullmatch(tag):
        raise ReleaseError(f"{tag!r} is not a release tag: use vX.Y.Z (e.g. v1.2.3)")
    return tag


def check_image(image: str) -> str:
    if not IMAGE_REF.fullmatch(image):
        raise ReleaseError(f"{image!r} is not an image pinned by digest: use name@sha256:<64 hex digits>")
    return image


def is_retired(version: ModelVersion) -> bool:
    return (version.tags or {}).get(DEPRECATED_KEY) == "true"


def record_release(version: str, tag: str, image: str) -> None:
    """Tag model `version` as the one release `tag` shipped in `image` (name@sha256:...)."""
    configure()
    client = MlflowClient()
    client.set_model_version_tag(REGISTERED_MODEL, version, TAG_KEY, check_tag(tag))
    client.set_model_version_tag(REGISTERED_MODEL, version, IMAGE_KEY, check_image(image))


def release_version(tag: str) -> ModelVersion:
    """The model version recorded as release `tag`; refused when there is none or it is retired."""
    configure()
    versions = [
        version
        for version in MlflowClient().search_model_versions(f"name='{REGISTERED_MODEL}'")
        if (version.tags or {}).get(TAG_KEY) == check_tag(tag)
    ]
    if not versions:
        raise ReleaseError(f"no version of model {REGISTERED_MODEL!r} is recorded as release {tag}")
    if len(versions) > 1:
        numbers = ", ".join(sorted(str(version.version) for version in versions))
        raise ReleaseError(f"versions {numbers} of {REGISTERED_MODEL!r} all claim release {tag}: fix tags")
    (version,) = versions
    if is_retired(version):
        raise ReleaseError(
            f"release {tag} is model version {version.version}, which was retired (make retire): "
            "refusing to roll back to it; roll back to another release"
        )
    return version


def roll_back_alias(tag: str) -> str:
    """Point alias `production` at the model version of release `tag`; return that version."""
    version = release_version(tag)
    MlflowClient().set_registered_model_alias(REGISTERED_MODEL, PRODUCTION, version.version)
    return str(version.version)


def retire(version: str) -> list[str]:
    """Remove every alias from model `version` and mark it deprecated; return the aliases removed."""
    configure()
    client = MlflowClient()
    found = client.get_model_version(REGISTERED_MODEL, version)
    aliases = sorted(found.aliases or [])
    for alias in aliases:
        client.delete_registered_model_alias(REGISTERED_MODEL, alias)
    client.set_model_version_tag(REGISTERED_MODEL, version, DEPRECATED_KEY, "true")
    return aliases


def released_image(asset: Path, tag: str) -> str:
    """The image a release published (its release.json asset), checked against the tag asked for."""
    try:
        record = json.loads(asset.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReleaseError(f"{asset}: not the release.json of a release ({error})") from None
    described = record.get("tag") if isinstance(record, dict) else None
    if described != tag:
        raise ReleaseError(f"{asset} describes release {described!r}, not {tag}")
    return check_image(str(record.get("image", "")))
