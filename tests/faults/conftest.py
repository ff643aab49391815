"""Fault injection for tests that run the parts as separate processes.

- `TcpProxy`: a TCP forwarder we control, put between a process and PostgreSQL, so the
  database can be made unreachable for that process alone (`cut()`/`restore()`); the
  machine's PostgreSQL is never touched.
- `private_redis`: a throwaway redis-server on a free port that a test may kill and
  start again; the machine's Redis is never touched.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import redis
from django.db import connection

from tests.helpers import free_port, wait_for

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
