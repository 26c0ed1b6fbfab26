"""Servers and long commands in their own process group: started, polled until ready within a bound, and
stopped with every process of the group (servers fork workers), so nothing outlives a test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# For the environments the tests install: no bytecode compiled at install, Python writes it for each module
# on its first import. uv's compile step takes every file of every package (about 60 s of CPU for a bake's
# environment, most of it never imported); the first run that imports a module pays for it once instead
# (docs/decisions.md). PYTHONDONTWRITEBYTECODE is set on some machines, which would make every start pay.
WRITE_BYTECODE_ON_IMPORT = {"UV_COMPILE_BYTECODE": "0", "PYTHONDONTWRITEBYTECODE": ""}


def spawn(command: list[str], sink, *, cwd: Path | None, env: dict[str, str], stdin=None) -> subprocess.Popen:
    """`command` in a session of its own (its process group is what `stop_group` stops), stdout and stderr
    into `sink`; `env` is the whole environment, not additions to this one."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=sink,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen, first: signal.Signals = signal.SIGTERM, grace: float = 30) -> None:
    """Signal the process group, SIGKILL it if it is still there after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def until_group_gone(name: str, group: int, within: float = 10) -> None:
    """Wait for every process of the group (forked workers too) to exit; SIGKILL stragglers, then
    refuse to carry on quietly if any is still there."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, 0)
        raise RuntimeError(f"{name}: processes of group {group} still running after SIGKILL")


def kill_marked(marker: str, within: float = 10) -> None:
    """SIGKILL every process whose environment holds `marker` ("NAME=value"): the ones that left the group
    (act runs each step in a process group of its own). Scans again until none is left, since a process
    can fork between a scan and its kill and a killed one stays readable until it has exited."""
    needle = f"\0{marker}\0".encode()
    deadline = time.monotonic() + within
    while True:
        found = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            with contextlib.suppress(OSError, ValueError):
                if needle in b"\0" + environ.read_bytes():
                    found.append(int(environ.parent.name))
                    os.kill(found[-1], signal.SIGKILL)
        if not found:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {found} marked {marker} still running after SIGKILL")
        time.sleep(0.1)


@dataclass
class Started:
    url: str
    seconds: float  # from launch to the first successful readiness probe
    process: subprocess.Popen


@contextlib.contextmanager
def started(
    name: str,
    command: list[str],
    log: Path,
    ready: Callable[[], bool] | None,
    *,
    url: str = "",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ready_within: float = 90,
    stop_with: signal.Signals = signal.SIGTERM,
) -> Iterator[Started]:
    """Run `command` in a new session, poll `ready` until true (not at all when None), yield; stop its
    process group after, and wait until every process of it is gone."""
    log.parent.mkdir(parents=True, exist_ok=True)
    launched = time.monotonic()
    with log.open("w") as sink:
        process = spawn(command, sink, cwd=cwd, env={**os.environ, **(env or {})})
    try:
        while ready is not None and not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            if time.monotonic() - launched > ready_within:
                raise TimeoutError(f"{name} not ready within {ready_within} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        yield Started(url, round(time.monotonic() - launched, 2), process)
    finally:
        stop_group(process, stop_with)
        until_group_gone(name, process.pid)


def answers_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: `url` answers 200."""

    def probe() -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
        return False

    return probe


@contextlib.contextmanager
def serving(project: Path, env: dict[str, str] | None = None, ready_within: float = 90) -> Iterator[str]:
    """`make serve` on a free loopback port, in its own process group; yields the base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = ["make", "--no-print-directory", "serve", f"PORT={port}"]
    with started(
        "make serve",
        command,
        project / "serve.log",
        answers_ok(f"{base}/readyz"),
        url=base,
        cwd=project,
        env=env,
        ready_within=ready_within,
    ):
        yield base


def post_json(url: str, payload: object, timeout: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
