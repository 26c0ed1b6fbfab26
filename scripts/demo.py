"""Bake the defaults and run the generated project's local lifecycle, printing one prediction.

Usage: python scripts/demo.py [OUTPUT_DIR]   (default build/demo; an existing bake there is replaced)
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import bake, first_record, make, post_json, serving


def step(project: Path, target: str) -> None:
    print(f"\n==> make {target}", flush=True)
    result = make(project, target)
    print(result.output[-3000:])
    if result.returncode != 0:
        sys.exit(f"make {target} failed after {result.seconds:.1f} s")
    print(f"<== make {target}: {result.seconds:.1f} s", flush=True)


def main(output: Path) -> None:
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    project = bake(output)
    print(f"baked {project} in {time.perf_counter() - started:.1f} s")
    for target in ("setup", "train", "gate", "test"):
        step(project, target)
    record = first_record(project, "target")
    print("\n==> make serve, then POST /predict with one held-out record")
    with serving(project) as url:
        status, body = post_json(f"{url}/predict", {"records": [record]})
    print(f"request: {json.dumps({'records': [record]})[:200]}...")
    print(f"answer ({status}): {json.dumps(body)}")
    if status != 200:
        sys.exit("the service did not answer the prediction")
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s; the project is in {project}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/demo"))
