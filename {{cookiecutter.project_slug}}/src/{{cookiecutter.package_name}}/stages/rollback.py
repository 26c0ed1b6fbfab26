"""`make rollback TAG=vX.Y.Z`: check the release and write its image (plan), then move alias `production`.

`plan` refuses before anything changes: a malformed tag, a release without its release.json asset, a model
version that was retired, or a registry that disagrees with the asset about the image. `alias` moves MLflow
alias `production` back, when a tracking server is configured (MLFLOW_TRACKING_URI); the Makefile opens
the pull request on the production overlay in between.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ..releases import (
    IMAGE_KEY,
    PRODUCTION,
    REGISTERED_MODEL,
    ReleaseError,
    check_tag,
    release_version,
    released_image,
    roll_back_alias,
)


def tracking_configured() -> bool:
    """Only a configured server holds the production registry; a local mlflow.db is not it."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def download_asset(tag: str, folder: Path) -> Path:
    """The release's release.json, fetched with gh (GH_TOKEN and the repository from the environment)."""
    folder.mkdir(parents=True, exist_ok=True)
    asset = folder / "release.json"
    command = ["gh", "release", "download", tag, "--pattern", asset.name, "--output", str(asset), "--clobber"]
    if subprocess.run(command, check=False).returncode != 0:
        raise ReleaseError(f"could not download release.json of release {tag} (gh release download)")
    return asset


def plan(tag: str, folder: Path) -> str:
    check_tag(tag)
    version = release_version(tag) if tracking_configured() else None  # a retired version stops here
    image = released_image(download_asset(tag, folder), tag)
    recorded = (version.tags or {}).get(IMAGE_KEY) if version else None
    if recorded and recorded != image:
        raise ReleaseError(f"release {tag}: MLflow records image {recorded}, the release asset {image}")
    (folder / "image-ref.txt").write_text(image + "\n", encoding="utf-8")
    model = f"model version {version.version}" if version else "no tracking server: the model alias stays"
    print(f"rollback: production goes back to {tag}: {image} ({model})")
    return image


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("step", choices=["plan", "alias"])
    parser.add_argument("--tag", required=True, help="the release to return to, vX.Y.Z")
    parser.add_argument("--dir", type=Path, default=Path("build/rollback"), help="where plan writes")
    args = parser.parse_args(argv)
    try:
        if args.step == "plan":
            plan(args.tag, args.dir)
        elif tracking_configured():
            version = roll_back_alias(args.tag)
            print(f"rollback: {REGISTERED_MODEL!r} @{PRODUCTION} is version {version} again ({args.tag})")
        else:
            print("rollback: MLFLOW_TRACKING_URI is not set, so no MLflow alias was moved")
    except ReleaseError as error:
        sys.exit(f"rollback: {error}")


if __name__ == "__main__":
    main()
