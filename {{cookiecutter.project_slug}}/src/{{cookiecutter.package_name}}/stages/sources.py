"""`make train` (ensure) and `make update-data` (update): the team's CSV is here, or one line says why."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..config import load_params
from ..sources import DataSourceError, ensure, in_ci, update

CHANGE_JSON = Path("reports/data-change.json")
CHANGE_MD = Path("reports/data-change.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["ensure", "update"])
    args = parser.parse_args(argv)
    if load_params().data.source != "csv":
        return 0  # the demo dataset is written by the prepare stage itself
    try:
        if args.action == "ensure":
            how = ensure(in_ci=in_ci(), remote_ready=os.environ.get("DVC_REMOTE_READY") == "true")
            if how != "present":
                print(f"data: data/raw/data.csv {how}")
            return 0
        change = update()
    except DataSourceError as problem:
        print(f"data: {problem}", file=sys.stderr)
        return 1
    if change is None:
        print("update-data: data/raw/data.csv is not imported from a URL (dvc import-url); nothing to update")
        return 0
    CHANGE_JSON.parent.mkdir(parents=True, exist_ok=True)
    CHANGE_JSON.write_text(json.dumps(change.as_dict(), indent=2) + "\n", encoding="utf-8")
    CHANGE_MD.write_text(change.markdown(), encoding="utf-8")
    before, after = change.before, change.after
    print(f"update-data: {change.url}: md5 {before.md5} -> {after.md5}, rows {before.rows} -> {after.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
