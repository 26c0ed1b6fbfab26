"""What rollback accepts before it changes anything: release tags, pinned images, the release's asset."""

from __future__ import annotations

import json
import re

import pytest

from {{ cookiecutter.package_name }}.releases import ReleaseError, check_image, check_tag, released_image

IMAGE = "ghcr.io/acme/scorer@sha256:" + "ab" * 32


@pytest.mark.parametrize("tag", ["v1.0.0", "v12.3.45", "v2.0.0-rc.1"])
def test_release_tags_are_accepted(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["1.0.0", "v1.0", "latest", "v1.0.0; rm -rf /", "$(touch x)", "--help", ""])
def test_anything_else_is_refused_as_a_tag(tag):
    with pytest.raises(ReleaseError, match="is not a release tag"):
        check_tag(tag)


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/acme/scorer:v1.0.0",
        "ghcr.io/acme/scorer@sha256:abc",
        "ghcr.io/Acme/scorer@sha256:" + "ab" * 32,
    ],
)
def test_only_an_image_pinned_by_digest_is_accepted(image):
    assert check_image(IMAGE) == IMAGE
    with pytest.raises(ReleaseError, match="not an image pinned by digest"):
        check_image(image)


def test_the_release_asset_gives_the_image_of_its_own_tag_only(tmp_path):
    asset = tmp_path / "release.json"
    asset.write_text(json.dumps({"tag": "v1.0.0", "image": IMAGE, "commit": "0" * 40}))
    assert released_image(asset, "v1.0.0") == IMAGE
    with pytest.raises(ReleaseError, match=re.escape("describes release 'v1.0.0', not v1.1.0")):
        released_image(asset, "v1.1.0")
    asset.write_text("not json")
    with pytest.raises(ReleaseError, match=re.escape("not the release.json of a release")):
        released_image(asset, "v1.0.0")
