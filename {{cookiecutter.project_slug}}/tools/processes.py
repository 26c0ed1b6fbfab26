"""Servers started for a check or a measurement: each in its own process group, waited for until it
answers, and stopped as a whole group (BentoML, uvicorn and MLflow fork workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable


class ServerExitedError(RuntimeError):
    """The server's process ended before it was ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], **popen) -> subprocess.Popen:
    """Run `command` in a new session, so stop() reaches every process it forks."""
    return subprocess.Popen(command, start_new_session=True, **popen)


def wait_until(
    ready: Callable[[], bool],
    process: subprocess.Popen,
    seconds: float,
    interval: float = 0.05,
    what: str = "the server",
) -> None:
    """Poll `ready()` until it is true; raise when the process exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None:
            raise ServerExitedError(f"{what} exited with {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} was not ready within {seconds:.0f} s")
        time.sleep(interval)


def stop(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM to the process group, then SIGKILL what is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
