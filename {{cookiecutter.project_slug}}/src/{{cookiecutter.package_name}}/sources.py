"""Where the team's CSV (data/raw/data.csv) comes from: git, a DVC remote, or a URL tracked with
`dvc import-url`. Fetch it when it is missing and can be fetched, say in one line what to configure when
it cannot, and describe a data change (hash and rows before and after `dvc update`)."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

RAW = Path("data/raw/data.csv")
POINTER = Path("data/raw/data.csv.dvc")
# Above this, keep the file out of git (DVC remote or URL); the pre-commit hook enforces it.
GIT_LIMIT_MB = 10
WAYS = (
    f"commit it to git (up to {GIT_LIMIT_MB} MB), `dvc add` it and `make push` to a cloud DVC remote CI can "
    "log in to, or track its URL with `dvc import-url <url> data/raw/data.csv` (README: 'Bring your own CSV')"
)

Dvc = Callable[[list[str]], int]


class DataSourceError(RuntimeError):
    """data/raw/data.csv is not here and this run cannot get it; the message says what to configure."""


@dataclass(frozen=True)
class Snapshot:
    """The file's MD5 (the hash DVC records) and its number of data rows; None when it is absent."""

    md5: str | None
    rows: int | None


def run_dvc(args: list[str]) -> int:
    return subprocess.run([sys.executable, "-m", "dvc", *args], check=False).returncode


def snapshot(path: Path = RAW) -> Snapshot:
    if not path.exists():
        return Snapshot(None, None)
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        rows = max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    return Snapshot(digest.hexdigest(), rows)


def pointer(path: Path = POINTER) -> dict | None:
    """The .dvc file that tracks the CSV (`dvc add` or `dvc import-url`), or None when git holds it."""
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def imported_from(tracked: dict | None) -> str | None:
    """The URL of an import (`dvc import-url`), None for a plain `dvc add`."""
    deps = (tracked or {}).get("deps") or []
    return str(deps[0]["path"]) if deps else None


def pinned_md5(tracked: dict | None) -> str | None:
    outs = (tracked or {}).get("outs") or []
    return outs[0].get("md5") if outs else None


def default_remote() -> str | None:
    """The URL of the default DVC remote (.dvc/config, config.local), or None without one."""
    from dvc.config import Config  # the pipeline group's dvc; imported here to keep the module light

    config = Config.from_cwd(validate=False)
    name = config["core"].get("remote")
    return str(config["remote"][name]["url"]) if name and name in config["remote"] else None


def missing_message(tracked: dict | None, remote: str | None, in_ci: bool, remote_ready: bool) -> str:
    """One line: why data/raw/data.csv is not here, and what to configure."""
    if tracked is None:
        return f"data/raw/data.csv is missing: put your CSV there, then {WAYS}"
    start = "data/raw/data.csv is tracked by DVC (data/raw/data.csv.dvc) but was not pulled"
    if remote is None:
        return f"{start}, and this project has no DVC remote: {WAYS}"
    if "://" not in remote:
        where = "CI" if in_ci else "this machine"
        return f"{start}: its DVC remote {remote} is a folder {where} cannot reach; {WAYS}"
    if in_ci and not remote_ready:
        return (
            f"{start}: CI did not log in to the DVC remote {remote}; set the repository variables of the "
            "read-only identity (see .github/actions/dvc-remote-login/action.yml)"
        )
    return f"{start} from {remote}: run `make push` where the file is (`make pull` fetches it)"


def ensure(dvc: Dvc = run_dvc, *, in_ci: bool = False, remote_ready: bool = False) -> str:
    """Make sure data/raw/data.csv is here; fetch an import from its URL when it is not.

    An import is fetched with `dvc update` and must match the hash committed in data/raw/data.csv.dvc:
    training on other data than the commit names would make the run irreproducible. Raises DataSourceError.
    """
    if RAW.exists():
        return "present"
    tracked = pointer()
    url = imported_from(tracked)
    if url is None:
        raise DataSourceError(missing_message(tracked, default_remote(), in_ci, remote_ready))
    committed = POINTER.read_text(encoding="utf-8")
    if dvc(["update", "--quiet", str(POINTER)]) != 0 or not RAW.exists():
        raise DataSourceError(
            f"data/raw/data.csv: could not fetch {url} (the error is above); give this run access"
        )
    now = pinned_md5(pointer())
    if now != pinned_md5(tracked):
        POINTER.write_text(committed, encoding="utf-8")
        RAW.unlink()
        raise DataSourceError(
            f"data/raw/data.csv: {url} changed since data/raw/data.csv.dvc was committed "
            f"(md5 {pinned_md5(tracked)}, now {now}); run `make update-data` and commit data/raw/data.csv.dvc"
        )
    return f"fetched from {url}"


@dataclass(frozen=True)
class Change:
    url: str
    before: Snapshot
    after: Snapshot

    @property
    def changed(self) -> bool:
        return self.before.md5 != self.after.md5

    def as_dict(self) -> dict:
        before, after = asdict(self.before), asdict(self.after)
        return {"url": self.url, "changed": self.changed, "before": before, "after": after}

    def markdown(self) -> str:
        def cell(value: object) -> str:
            return "unknown" if value is None else f"`{value}`" if isinstance(value, str) else f"{value:,}"

        verdict = "new data" if self.changed else "unchanged"
        return (
            f"## Data: {verdict}\n\n`data/raw/data.csv`, imported from `{self.url}` (`make update-data`).\n\n"
            "| | MD5 | rows |\n|---|---|---:|\n"
            f"| before | {cell(self.before.md5)} | {cell(self.before.rows)} |\n"
            f"| after | {cell(self.after.md5)} | {cell(self.after.rows)} |\n"
        )


def update(dvc: Dvc = run_dvc) -> Change | None:
    """`dvc update` the imported CSV; None when it was not imported from a URL (nothing to update)."""
    tracked = pointer()
    url = imported_from(tracked)
    if url is None:
        return None
    if not RAW.exists():
        dvc(["pull", "--quiet", str(POINTER)])  # the committed version, to count its rows
    before = snapshot()
    before = Snapshot(before.md5 or pinned_md5(tracked), before.rows)
    if dvc(["update", "--quiet", str(POINTER)]) != 0:
        raise DataSourceError(f"data/raw/data.csv: could not update from {url} (the error is above)")
    return Change(url, before, snapshot())


def in_ci() -> bool:
    return bool(os.environ.get("CI"))
