"""The benchmark harness: settings for every process, sizes, and the processes themselves.

`Bench` holds what every scenario shares: the scale, the production-like environment
each child process gets, and the children (our gateway, the bare reference, load
generators, a Celery worker, py-spy). It does not import the project's models, so it
is loaded before Django is set up; the scenarios (benchmarks.scenarios) build on it
and are loaded after `Bench.setup_django()`.
"""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
from django.core.management import call_command
from psycopg import sql

from benchmarks.procs import LOGS, Child, free_port, python, wait_http

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
PREFIX = "BENCH-"
PER_LOADGEN = 5000  # chargers per load-generator process


class Bench:
    def __init__(self, args):
        self.args = args
        self.scale = args.scale
        self.database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
        self.redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
        if not self.database_url.startswith(("postgres://", "postgresql://")):
            sys.exit("benchmarks run on PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
        db_name = urlsplit(self.database_url).path.lstrip("/")
        if "bench" not in db_name:
            sys.exit(
                f"refusing to empty database {db_name!r}: the benchmark database's name "
                "must contain 'bench' (set BENCH_DATABASE_URL)"
            )
        # Production-like settings for every process: DEBUG off, plain HTTP on loopback.
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
            "OCPP_PASSWORD_KEY": os.environ.get("OCPP_PASSWORD_KEY") or secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "BEHIND_TLS_PROXY": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            # A wave cap high enough not to throttle a bulk restart.
            "RESTART_WAVE_SIZE": "100000",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.children: list[Child] = []

    # -- sizes ----------------------------------------------------------------------------
    def n(self, full: int, minimum: int = 2) -> int:
        return max(minimum, round(full * self.scale))

    # -- set-up ---------------------------------------------------------------------------
    def setup_django(self) -> None:
        """Django in this process too (the pages scenario and the checks read PostgreSQL),
        on an empty, migrated benchmark database."""
        os.environ.update(self.env)
        ensure_database(self.database_url)
        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("flush", interactive=False, verbosity=0)

    # -- processes ------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], *, talk: bool = False, env=None) -> Child:
        child = Child(name, argv, {**self.env, **(env or {})}, talk=talk)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.name.startswith("profile-"):
                child.stop(graceful=30, sig=signal.SIGINT)  # py-spy writes its profile
            else:
                child.stop()
        self.children.clear()

    def profile(self, child: Child) -> None:
        """With --profile, sample `child` with py-spy (flame graph in benchmarks/logs/)."""
        if not self.args.profile:
            return
        suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[self.args.profile]
        output = LOGS / f"{child.name}.{suffix}"
        self.spawn(
            f"profile-{child.name}",
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--gil",  # samples that hold the GIL: where the CPU goes
                "--nonblocking",
                "--rate",
                "200",
                "--pid",
                str(child.pid),
            ]
            + ["--output", str(output), "--format", self.args.profile],
        )

    def start_gateway(self, name: str, *, tls=None, **env) -> tuple[Child, str]:
        """Our gateway; with `tls` (benchmarks.tls.BenchPki) it serves wss:// and asks
        chargers for certificates from that CA."""
        port = free_port()
        argv = ["run_gateway", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--gateway-id", f"bench-{port}", *(tls.gateway_args if tls else [])]
        child = self.spawn(
            name,
            python("manage.py", *argv),
            env={key: str(value) for key, value in env.items()},
        )
        wait_http(f"{_scheme(tls, 'http')}://127.0.0.1:{port}/healthz", child, context=_ctx(tls))
        self.profile(child)
        return child, f"{_scheme(tls, 'ws')}://127.0.0.1:{port}/ocpp"

    def start_bare(self, name: str, *, tls=None) -> tuple[Child, str]:
        port = free_port()
        argv = ["-m", "benchmarks.bare_csms", "--port", str(port)]
        if tls:
            argv += ["--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key)]
        child = self.spawn(name, python(*argv), talk=True)
        child.read(60)  # {"ready": true}
        return child, f"{_scheme(tls, 'ws')}://127.0.0.1:{port}/ocpp"

    def start_loadgens(
        self, name: str, url: str, count: int, *, first: int = 1, **options
    ) -> list[Child]:
        """Chargers BENCH-<first> … BENCH-<first + count - 1>, PER_LOADGEN per process."""
        generators = []
        for index, start in enumerate(range(first, first + count, PER_LOADGEN)):
            size = min(PER_LOADGEN, first + count - start)
            argv = python(
                "-m",
                "benchmarks.loadgen",
                "--url",
                url,
                "--prefix",
                PREFIX,
                "--first",
                str(start),
                "--count",
                str(size),
            )
            for key, value in options.items():
                argv += [f"--{key.replace('_', '-')}", str(value)]
            child = self.spawn(f"{name}-{index + 1}", argv, talk=True)
            child.size = size
            generators.append(child)
        for child in generators:
            child.read(60)
        return generators

    @staticmethod
    def ask_all(children: list[Child], command: str, timeout: float = 600) -> list[dict]:
        for child in children:
            child.send(command)
        return [child.read(timeout) for child in children]


def ensure_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _scheme(tls, plain: str) -> str:
    return plain + "s" if tls else plain


def _ctx(tls):
    return ssl.create_default_context(cafile=str(tls.ca)) if tls else None
