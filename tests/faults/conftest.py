"""Fault injection for tests that run the parts as separate processes.

- `TcpProxy`: a TCP forwarder we control, put between a process and PostgreSQL, so the
  database can be made unreachable for that process alone (`cut()`/`restore()`); the
  machine's PostgreSQL is never touched.
- `private_redis`: a throwaway redis-server on a free port that a test may kill and
  start again; the machine's Redis is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
import redis
from django.db import connection

from tests.helpers import free_port, spawn, stop, wait_for, wait_for_port

# The gateway tests' fixtures: the background event loop, simulated chargers, gateway
# processes and the Redis clean-up.
from tests.ocpp_gateway.conftest import (  # noqa: F401
    clean_ocpp_keys,
    gateway_process,
    runner,
    sims,
)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new ones.

    While cut, a new connection is accepted and closed at once, as a database that went
    away looks to its client ("server closed the connection unexpectedly").
    """

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off.set()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.closed.set()
        self.cut()
        self.listener.close()


@pytest.fixture
def db_proxy(transactional_db):
    """A proxy to the test database; `database_url(proxy)` is the URL through it."""
    data = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    proxy = TcpProxy(data.get("HOST") or "127.0.0.1", int(data.get("PORT") or 5432))
    yield proxy
    proxy.close()


def database_url_through(proxy: TcpProxy) -> str:
    data = connection.settings_dict
    auth = data["USER"] or ""
    if data.get("PASSWORD"):
        auth += f":{data['PASSWORD']}"
    return f"postgres://{auth}@127.0.0.1:{proxy.port}/{data['NAME']}"


class PrivateRedis:
    """Our own redis-server on a free port; its append-only file survives a restart."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        wait_for(client.ping, 20, message=f"redis-server on {self.port}")
        client.close()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis(tmp_path, settings):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    settings.REDIS_URL = server.url
    settings.CELERY_BROKER_URL = server.url
    yield server
    server.kill()


# -- the whole stack as processes ---------------------------------------------------------
# Short deadlines so that every exit of the state machine is reached within a test.
STACK_SETTINGS = {
    "LOG_LEVEL": "INFO",
    "OCPP_FLUSH_INTERVAL": "0.2",
    "OCPP_PRESENCE_TIMEOUT": "30",
    "RESTART_CALL_TIMEOUT": "5",
    "RESTART_ANSWER_DEADLINE": "15",
    "RESTART_BOOT_DEADLINE": "25",
    "RESTART_BOOT_GRACE": "5",
    "RESTART_RELEASE_STALE": "8",
    "RESTART_ENFORCE_INTERVAL": "1",
    "RESTART_WAVE_SIZE": "50",
    # Above the send task's hard limit (RESTART_CALL_TIMEOUT + 30).
    "CELERY_VISIBILITY_TIMEOUT": "40",
}


class Stack:
    """Gateway, Celery worker, beat and web server as separate processes on loopback."""

    def __init__(self, tmp_path: Path, database_url: str, redis_url: str, **overrides):
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            **STACK_SETTINGS,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            **overrides,
        }
        self.gateway_port = free_port()
        self.gateway_proc: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.beat_proc: subprocess.Popen | None = None
        self.web_proc: subprocess.Popen | None = None
        self.web_port: int | None = None
        self._logs: dict[str, int] = {}

    def log_path(self, name: str) -> Path:
        # A process started again writes a new log; output() reads them all.
        n = self._logs[name] = self._logs.get(name, 0) + 1
        return self.tmp_path / f"{name}.{n}.log"

    def output(self, name: str) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.tmp_path.glob(f"{name}.*.log"))
        )

    def gateway_healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.gateway_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def start_gateway(self) -> None:
        self.gateway_proc = spawn(
            "manage.py",
            "run_gateway",
            "--port",
            str(self.gateway_port),
            "--gateway-id",
            "gw-stack",
            env=self.env,
            log=self.log_path("gateway"),
        )
        wait_for(self.gateway_healthy, 30, message="gateway /healthz")

    def start_worker(self, name: str = "w1", concurrency: int = 4) -> None:
        log = self.log_path(f"worker-{name}")
        self.workers[name] = spawn(
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "restarts,celery",
            "-c",
            str(concurrency),
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
            env=self.env,
            log=log,
        )
        wait_for(lambda: " ready." in log.read_text(errors="replace"), 60, message="worker ready")

    def start_beat(self) -> None:
        self.beat_proc = spawn(
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-s",
            str(self.tmp_path / "beat-schedule"),
            "-l",
            "INFO",
            env=self.env,
            log=self.log_path("beat"),
        )

    def start_web(self) -> str:
        self.web_port = self.web_port or free_port()
        self.web_proc = spawn(
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{self.web_port}",
            "-w",
            "1",
            "--threads",
            "4",
            env=self.env,
            log=self.log_path("web"),
        )
        wait_for_port(self.web_port, 30)
        return f"http://127.0.0.1:{self.web_port}"

    def revive_dead_workers(self) -> list[str]:
        """Start again every worker that exited, as its supervisor (compose's restart
        policy, systemd, run_stack) does in production. Celery's Redis transport can
        die with an "Unrecoverable error" when the broker vanishes mid-acknowledgement;
        our promise is about what happens once the part is back, not that it never dies.
        """
        revived = []
        for name, proc in list(self.workers.items()):
            if proc.poll() is not None:
                self.start_worker(name)
                revived.append(name)
        return revived

    def kill(self, proc: subprocess.Popen | None) -> None:
        """SIGKILL the process and everything it started (a crash: no clean-up at all)."""
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop_all(self) -> None:
        procs = [self.web_proc, self.beat_proc, *self.workers.values(), self.gateway_proc]
        for proc in procs:
            if proc is not None:
                stop(proc)


@pytest.fixture
def stack_factory(transactional_db, tmp_path):
    from tests.ocpp_gateway.conftest import database_url

    made: list[Stack] = []

    def make(redis_url: str | None = None, db_url: str | None = None, **overrides) -> Stack:
        from django.conf import settings as django_settings

        stack = Stack(
            tmp_path,
            db_url or database_url(),
            redis_url or django_settings.REDIS_URL,
            **overrides,
        )
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop_all()


@pytest.fixture
def celery_queues():
    """The Celery queues in the shared test Redis, empty before and after the test."""
    from django.conf import settings as django_settings

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = ("restarts", "celery", "unacked", "unacked_index", "unacked_mutex")
    client.delete(*keys)
    yield client
    client.delete(*keys)
    client.close()
