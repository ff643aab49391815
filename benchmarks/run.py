"""`make bench`: our system against the bare OCPP reference, in one run, on this machine.

    python -m benchmarks.run [--scale 0.1] [--only fleet,storm] [--output results.json]

Scenarios (sizes are multiplied by --scale):

1. fleet      10,000 OCPP 1.6 chargers held by one gateway process, booted and
              heartbeating: all connected? RSS growth per connection, beside bare.
4. (fleet)    on the same connections: Heartbeat + StatusNotification back to back from
              every charger; messages per second and CPU per message, beside bare.
3. storm      1,000 chargers reboot at once and come straight back: all reconnected
              and booted (as recorded in PostgreSQL), none refused, how fast.
2. restart    1,000 chargers restarted through the OKAY view, Celery, Redis and the
              gateway; bare: one asyncio.gather of Reset calls.
5. pages      the Opladere page over 5,000 chargers, the confirmation window for 500,
              the status request with 1,000 restarting (Django test client, PostgreSQL).

Each side is its own process (gateway, bare reference, load generators, Celery worker),
so CPU seconds are read per side with psutil. The database is real PostgreSQL
(BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/portal_bench; it is
created if missing and emptied at the start), Redis is BENCH_REDIS_URL.

The JSON written is a list with one object per figure: name, unit, value, bare, ratio,
target, met, plus scenario, scale and detail (CPU seconds per side and the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks.procs import (
    LOGS,
    ROOT,
    Child,
    ChildError,
    free_port,
    machine,
    python,
    raise_nofile_limit,
    wait_http,
)
from benchmarks.report import Figure, print_table, rounded

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
PREFIX = "BENCH-"
PER_LOADGEN = 5000  # chargers per load-generator process
SCENARIOS = ("fleet", "storm", "restart", "pages")


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
        self.figures: list[Figure] = []
        self.fleet_size = 0

    # -- sizes ----------------------------------------------------------------------------
    def n(self, full: int, minimum: int = 2) -> int:
        return max(minimum, round(full * self.scale))

    # -- set-up ---------------------------------------------------------------------------
    def setup_django(self) -> None:
        os.environ.update(self.env)
        ensure_database(self.database_url)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        call_command("flush", interactive=False, verbosity=0)

    def seed(self, total: int) -> None:
        from benchmarks import fleet

        fleet.seed(total=total, page_fleet=self.n(5000), small_fleet=self.n(50))
        self.fleet_size = total

    def reset_state(self) -> None:
        from benchmarks import fleet

        fleet.reset_state(self.redis_url)

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

    def start_gateway(self, name: str, **env) -> tuple[Child, str]:
        port = free_port()
        child = self.spawn(
            name,
            python(
                "manage.py",
                "run_gateway",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--gateway-id",
                f"bench-{port}",
            ),
            env={key: str(value) for key, value in env.items()},
        )
        wait_http(f"http://127.0.0.1:{port}/healthz", child)
        self.profile(child)
        return child, f"ws://127.0.0.1:{port}/ocpp"

    def start_bare(self, name: str) -> tuple[Child, str]:
        port = free_port()
        child = self.spawn(
            name, python("-m", "benchmarks.bare_csms", "--port", str(port)), talk=True
        )
        child.read(60)  # {"ready": true}
        return child, f"ws://127.0.0.1:{port}/ocpp"

    def start_loadgens(self, name: str, url: str, count: int, **options) -> list[Child]:
        generators = []
        for index, first in enumerate(range(1, count + 1, PER_LOADGEN)):
            size = min(PER_LOADGEN, count - first + 1)
            argv = python(
                "-m",
                "benchmarks.loadgen",
                "--url",
                url,
                "--prefix",
                PREFIX,
                "--first",
                str(first),
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

    # -- running --------------------------------------------------------------------------
    def run(self) -> int:
        selected = self.args.only.split(",") if self.args.only else list(SCENARIOS)
        unknown = set(selected) - set(SCENARIOS)
        if unknown:
            sys.exit(f"unknown scenarios: {', '.join(sorted(unknown))}; of {', '.join(SCENARIOS)}")
        began = time.monotonic()
        raise_nofile_limit()
        print(f"benchmarks at scale {self.scale:g} on {json.dumps(machine())}", flush=True)
        self.setup_django()
        self.seed(max(self.n(10_000), self.n(5000), self.n(1000)))
        from benchmarks import scenarios

        failed = []
        for name in selected:
            print(f"\n== {name}", flush=True)
            step = time.monotonic()
            try:
                self.reset_state()
                figures = getattr(scenarios, name)(self)
            except Exception as exc:
                traceback.print_exc()
                failed.append(name)
                figures = [
                    Figure(
                        f"{name}: scenario ran",
                        "",
                        None,
                        None,
                        None,
                        "runs to the end",
                        False,
                        name,
                        self.scale,
                        {"error": f"{exc.__class__.__name__}: {exc}"},
                    )
                ]
            finally:
                self.stop_all()
            for figure in figures:
                print(f"   {figure.name}: {figure.value} {figure.unit} (bare {figure.bare})")
            self.figures.extend(figures)
            print(f"   ({time.monotonic() - step:.0f}s)", flush=True)
        self.write(time.monotonic() - began)
        return 1 if failed else 0

    def write(self, seconds: float) -> None:
        rows = [rounded(asdict(figure)) for figure in self.figures]
        output = Path(self.args.output)
        output.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
        print_table(rows)
        print(
            f"\n{len(rows)} figures, {sum(1 for r in rows if r['met'])} targets met, "
            f"{seconds:.0f}s; machine {json.dumps(machine())}; wrote {output}"
        )


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE") or 1.0))
    parser.add_argument("--only", default="", help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--profile",
        choices=["flamegraph", "speedscope", "raw"],
        default="",
        help="sample the gateway with py-spy (pip install py-spy) into benchmarks/logs/",
    )
    parser.add_argument(
        "--worker",
        default="",
        help="Celery worker options for the restart scenario (default: a pool of 32 threads)",
    )
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    LOGS.mkdir(parents=True, exist_ok=True)
    bench = Bench(args)
    try:
        return bench.run()
    except ChildError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        bench.stop_all()


if __name__ == "__main__":
    sys.exit(main())
