"""Child processes of the benchmark harness, measured apart with psutil.

Every side of a benchmark (our gateway, the bare reference, the load generators, the
Celery worker) is its own process group, so its CPU seconds and memory are read
without the others mixed in, and it can be stopped without leftovers.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "benchmarks" / "logs"


def raise_nofile_limit() -> int:
    """Lift the soft file-descriptor limit to the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChildError(RuntimeError):
    pass


class Child:
    """A process started from the project root; `talk=True` speaks the stdin/stdout
    line protocol of bare_csms.py and loadgen.py (one JSON line per command)."""

    def __init__(self, name: str, argv: list[str], env: dict, *, talk: bool = False):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if talk else subprocess.DEVNULL,
            stdout=subprocess.PIPE if talk else self._log,
            stderr=self._log,
            start_new_session=True,
            bufsize=0,
        )
        self.process = psutil.Process(self.popen.pid)
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.popen.pid

    # -- the line protocol ----------------------------------------------------------------
    def send(self, command: str) -> None:
        self.popen.stdin.write(command.encode() + b"\n")
        self.popen.stdin.flush()

    def read(self, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.popen.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildError(f"{self.name}: no answer within {timeout:g}s ({self.log_path})")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ChildError(f"{self.name} exited ({self.tail()})")
                self._buffer += chunk
            elif self.popen.poll() is not None:
                raise ChildError(f"{self.name} exited ({self.tail()})")
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer = json.loads(line)
        if "error" in answer:
            raise ChildError(f"{self.name}: {answer['error']}")
        return answer

    def ask(self, command: str, timeout: float = 600) -> dict:
        self.send(command)
        return self.read(timeout)

    # -- measurements -----------------------------------------------------------------------
    def cpu(self) -> float:
        """CPU seconds of the process and its live children (Celery's pool)."""
        total = 0.0
        try:
            procs = [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def rss(self) -> int:
        return self.process.memory_info().rss

    def tail(self, lines: int = 15) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None

    # -- the end ------------------------------------------------------------------------------
    def stop(self, *, graceful: float = 0, sig: int = signal.SIGTERM) -> None:
        """`sig` and wait `graceful` seconds, then SIGKILL the whole process group."""
        if self.popen.poll() is None and graceful:
            self.popen.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(graceful)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()
        self._log.close()


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def wait_http(url: str, child: Child, timeout: float = 60, context=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise ChildError(f"{child.name} exited ({child.tail()})")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise ChildError(f"{child.name} not ready at {url} within {timeout:g}s ({child.tail()})")


def machine() -> dict:
    load1, load5, load15 = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "python": sys.version.split()[0],
    }
