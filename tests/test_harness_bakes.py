"""The harness's trained-bake store: a copy names its own folder where MLflow named the original's, the
store's key follows the template and the answers, and its lock keeps a second worker waiting."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import time
from pathlib import Path

from harness.bakes import locked, relocate, template_digest


def make_tree(root: Path) -> Path:
    """A stand-in for a trained bake at `root`: MLflow's database and MLmodel file with its absolute path,
    and a pipeline output and git's and DVC's stores that name it too, whose bytes must stay as they are."""
    root.mkdir(parents=True)
    with sqlite3.connect(root / "mlflow.db") as db:
        db.execute("CREATE TABLE experiments (id INTEGER, artifact_location TEXT, tag BLOB)")
        db.execute(
            "INSERT INTO experiments VALUES (1, ?, ?)", (f"{root}/mlruns/1", f"{root}/mlruns/1".encode())
        )
        db.execute("CREATE TABLE model_versions (source VARCHAR(500), version INTEGER)")
        db.execute("INSERT INTO model_versions VALUES (?, 3)", (f"file://{root}/mlruns/1/models/m-1",))
    (root / "mlruns/1/models/m-1").mkdir(parents=True)
    (root / "mlruns/1/models/m-1/MLmodel").write_text(f"artifact_path: {root}/mlruns/1/models/m-1\n")
    (root / "models").mkdir()
    (root / "models/run.json").write_text(f'{{"tracking_uri": "sqlite:///{root}/mlflow.db"}}')
    for store in (".git/objects", ".dvc/cache/files"):
        (root / store).mkdir(parents=True)
        (root / store / "blob").write_text(f"{root} is part of a stored object")
    return root


def test_a_relocated_copy_names_its_own_folder_in_mlflows_store_and_nowhere_else(tmp_path):
    origin = make_tree(tmp_path / "workers/gw1/default")
    copy = tmp_path / "elsewhere/longer-name/default"
    shutil.copytree(origin, copy)
    relocate(copy, origin)

    with sqlite3.connect(copy / "mlflow.db") as db:
        location, tag = db.execute("SELECT artifact_location, tag FROM experiments").fetchone()
        (source,) = db.execute("SELECT source FROM model_versions").fetchone()
    assert location == f"{copy}/mlruns/1"
    assert source == f"file://{copy}/mlruns/1/models/m-1"
    assert tag == f"{origin}/mlruns/1".encode(), "a blob is not text: left as it is"
    assert (
        copy / "mlruns/1/models/m-1/MLmodel"
    ).read_text() == f"artifact_path: {copy}/mlruns/1/models/m-1\n"
    assert str(origin) in (copy / "models/run.json").read_text(), "a DVC output: changed, it reruns stages"
    for store in (".git/objects", ".dvc/cache/files"):
        assert (copy / store / "blob").read_text() == f"{origin} is part of a stored object"
    with sqlite3.connect(origin / "mlflow.db") as db:
        assert db.execute("SELECT artifact_location FROM experiments").fetchone()[0] == f"{origin}/mlruns/1"


def test_the_store_key_follows_the_answers_and_is_stable():
    assert template_digest('{"task": "regression"}') == template_digest('{"task": "regression"}')
    assert template_digest('{"task": "regression"}') != template_digest("{}")
    assert len(template_digest()) == 16


def hold(path: str, seconds: float, started) -> None:
    with locked(Path(path)):
        started.set()
        time.sleep(seconds)


def test_the_lock_keeps_a_second_process_waiting_until_the_first_is_done(tmp_path):
    lock = tmp_path / "store.lock"
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    holder = context.Process(target=hold, args=(str(lock), 1.5, started))
    holder.start()
    try:
        assert started.wait(30), "the first process never took the lock"
        began = time.monotonic()
        with locked(lock):
            waited = time.monotonic() - began
    finally:
        holder.join(30)
    assert waited >= 1.0, f"the lock was taken after {waited:.2f} s, while the other process held it"
    assert holder.exitcode == 0
