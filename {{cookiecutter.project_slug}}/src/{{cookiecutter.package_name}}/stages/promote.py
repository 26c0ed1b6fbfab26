"""`make promote ALIAS=...`: register the last trained model (once) and point an MLflow alias at it."""

from __future__ import annotations

import argparse

from ..tracking import CHAMPION, REGISTERED_MODEL, promote, tracking_uri


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alias", default=CHAMPION, help="e.g. champion, production")
    args = parser.parse_args(argv)
    version = promote(args.alias)
    print(f"promote: {REGISTERED_MODEL!r} version {version} is now @{args.alias} in {tracking_uri()}")


if __name__ == "__main__":
    main()
