"""Writing the monitoring reports whole or not at all: a reader (a workflow step) never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_reports(texts: dict[Path, str]) -> None:
    """Write every file beside its destination under a temporary name, then move each into place."""
    written: list[tuple[Path, Path]] = []
    try:
        for path, text in texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            written.append((Path(name), path))
    except BaseException:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, path in written:
        os.replace(temporary, path)


def remove(*paths: Path) -> None:
    """Drop an earlier run's reports: a failed run leaves none a workflow could take for its own."""
    for path in paths:
        path.unlink(missing_ok=True)
