"""Helpers for tests that run the real processes on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    predicate: Callable[[], object],
    timeout: float = 20.0,
    interval: float = 0.1,
    message: str = "condition",
):
    """Poll until predicate() is truthy; return its value or fail with `message`."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # keep polling: the thing may not be up yet
            last_exc = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(
        f"timed out waiting for {message}" + (f": {last_exc!r}" if last_exc else "")
    )


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    def connectable():
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True

    wait_for(connectable, timeout, message=f"port {port}")


def manage(*args, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", 120),
        **kwargs,
    )


def spawn(*args, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start `python <args>` from the project root in its own process group."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env or os.environ.copy(),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen, sig=None, timeout: float = 15.0) -> int:
    import signal as _signal

    if proc.poll() is None:
        proc.send_signal(sig or _signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, _signal.SIGKILL)
            proc.wait()
    return proc.returncode
