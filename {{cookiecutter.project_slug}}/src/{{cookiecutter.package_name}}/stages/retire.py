"""`make retire VERSION=N`: strip every MLflow alias from model version N and mark it deprecated."""

from __future__ import annotations

import argparse

from ..releases import DEPRECATED_KEY, retire
from ..tracking import REGISTERED_MODEL, tracking_uri


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", required=True, type=int, help="the model version to retire")
    args = parser.parse_args(argv)
    removed = retire(str(args.version))
    aliases = ", ".join(f"@{alias}" for alias in removed) or "no alias"
    print(f"retire: {REGISTERED_MODEL!r} version {args.version}: removed {aliases}, {DEPRECATED_KEY}=true")
    print(f"retire: in {tracking_uri()}; promotion and rollback now refuse it")


if __name__ == "__main__":
    main()
