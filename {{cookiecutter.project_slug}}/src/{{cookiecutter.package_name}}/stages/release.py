"""`make release-model TAG=... IMAGE=...`: alias `production` on the last trained model, tagged as release."""

from __future__ import annotations

import argparse
import sys

from ..releases import PRODUCTION, ReleaseError, check_image, check_tag, record_release
from ..tracking import REGISTERED_MODEL, promote, tracking_uri


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", required=True, help="the release tag, vX.Y.Z")
    parser.add_argument("--image", required=True, help="the released image, name@sha256:<digest>")
    args = parser.parse_args(argv)
    try:
        tag, image = check_tag(args.tag), check_image(args.image)
        version = promote(PRODUCTION)
        record_release(version, tag, image)
    except ReleaseError as error:
        sys.exit(f"release-model: {error}")
    print(f"release-model: {REGISTERED_MODEL!r} version {version} is @{PRODUCTION}, release {tag}, {image}")
    print(f"release-model: in {tracking_uri()}")


if __name__ == "__main__":
    main()
