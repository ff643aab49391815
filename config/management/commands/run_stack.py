"""Start everything the demo needs in the foreground; one Ctrl-C stops it all.

Used by `make run`: the web server, a Celery worker (with the beat for
deadlines), the OCPP gateway and a simulated fleet for the demo chargers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def redis_problem(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return (
            f"Redis is not reachable at {url} ({exc.__class__.__name__}). Start it with "
            "`redis-server --daemonize yes --port 6379` or point REDIS_URL at a running one."
        )
    return None


# A part that exits more than MAX_RESTARTS times within RESTART_WINDOW seconds stops the stack.
MAX_RESTARTS = 3
RESTART_WINDOW = 60.0


class Command(BaseCommand):
    help = "Run web server, worker, gateway and simulated chargers together (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--web", default="127.0.0.1:8000", help="host:port for the web server")
        parser.add_argument("--gateway-port", type=int, default=9000)
        parser.add_argument(
            "--no-simulator", action="store_true", help="do not start simulated chargers"
        )

    def processes(self, options) -> list[tuple[str, list[str]]]:
        py = sys.executable
        procs = [
            ("web", [py, "manage.py", "runserver", options["web"], "--noreload"]),
            (
                "worker",
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-B",
                    "-Q",
                    "restarts,celery",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "4",
                ],
            ),
        ]
        procs.append(
            (
                "gateway",
                [
                    py,
                    "manage.py",
                    "run_gateway",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(options["gateway_port"]),
                ],
            )
        )
        if not options["no_simulator"]:
            procs.append(("simulator", self.simulator_command(py, options)))
        return procs

    def simulator_command(self, py: str, options) -> list[str]:
        """The demo fleet: every seeded charger but DEMO_OFFLINE, some misbehaving on purpose."""
        from config import demo

        cmd = [
            py,
            "manage.py",
            "simulate_chargers",
            "--from-db",
            "--url",
            f"ws://127.0.0.1:{options['gateway_port']}/ocpp",
            "--password",
            demo.ocpp_password(),
            "--exclude",
            ",".join(demo.DEMO_OFFLINE),
        ]
        for charge_point_id, behaviour in demo.DEMO_BEHAVIOURS.items():
            cmd += ["--behaviour", f"{charge_point_id}={behaviour}"]
        return cmd

    def handle(self, *args, **options):
        problem = redis_problem(settings.REDIS_URL)
        if problem:
            raise CommandError(problem)

        commands = dict(self.processes(options))
        children: list[tuple[str, subprocess.Popen]] = []
        for name, cmd in commands.items():
            self.stdout.write(f"starting {name}: {' '.join(cmd[1:])}")
            children.append((name, subprocess.Popen(cmd, start_new_session=True)))

        self.stdout.write(
            self.style.SUCCESS(f"Portal on http://{options['web']}/ — press Ctrl-C to stop.")
        )
        stopping = False
        # Like a process supervisor: a part that dies is started again, unless it
        # keeps dying (then something is wrong that a restart will not fix).
        exits: dict[str, list[float]] = {}

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for i, (name, proc) in enumerate(children):
                    if proc.poll() is None or stopping:
                        continue
                    _signal_group(proc, signal.SIGKILL)  # leftovers of the dead part
                    now = time.monotonic()
                    recent = [t for t in exits.get(name, []) if now - t < RESTART_WINDOW]
                    exits[name] = [*recent, now]
                    if len(exits[name]) > MAX_RESTARTS:
                        self.stderr.write(
                            f"{name} exited with {proc.returncode} {len(exits[name])} times "
                            f"in {RESTART_WINDOW:g}s; stopping all."
                        )
                        stopping = True
                        break
                    self.stderr.write(f"{name} exited with {proc.returncode}; starting it again.")
                    children[i] = (name, subprocess.Popen(commands[name], start_new_session=True))
                time.sleep(0.5)
        finally:
            # Each child leads its own process group (start_new_session), and some fork
            # helpers of their own (Celery's pool and beat): signal the whole group, and
            # after the grace period kill whatever is left of it, so nothing outlives us.
            for _, proc in children:
                _signal_group(proc, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for _, proc in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            for _, proc in children:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            self.stdout.write("stopped.")


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(proc.pid, sig)
