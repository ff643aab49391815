"""The `make run` path on the SQLite default: migrate, seed, run the stack, log in."""

import http.cookiejar
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request

import psutil
import pytest

from tests.helpers import free_port, manage, spawn, stop, wait_for, wait_for_port


@pytest.fixture
def sqlite_env(tmp_path):
    env = os.environ.copy()
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    env["DEMO_PASSWORD"] = "smoke-test-pw"
    return env


def test_seed_demo_is_idempotent_and_prints_the_logins(sqlite_env):
    assert manage("migrate", "--noinput", env=sqlite_env).returncode == 0
    first = manage("seed_demo", env=sqlite_env)
    second = manage("seed_demo", env=sqlite_env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    for login in ("superadmin", "admin", "bruger", "basicadmin"):
        assert login in first.stdout
    assert "smoke-test-pw" in first.stdout
    count = manage(
        "shell",
        "-c",
        "from chargers.models import Charger; print(Charger.objects.count())",
        env=sqlite_env,
    )
    assert 40 <= int(count.stdout.split()[-1]) <= 60


def test_seed_demo_refuses_with_debug_off(sqlite_env):
    env = dict(sqlite_env, DEBUG="0", SECRET_KEY="s" * 50, OCPP_PASSWORD_KEY="k" * 48)
    result = manage("seed_demo", env=env)
    assert result.returncode != 0
    assert "--force" in result.stderr


def test_run_stack_serves_the_portal_and_one_signal_stops_everything(sqlite_env, tmp_path):
    assert manage("migrate", "--noinput", env=sqlite_env).returncode == 0
    assert manage("seed_demo", env=sqlite_env).returncode == 0
    port = free_port()
    proc = spawn(
        "manage.py",
        "run_stack",
        "--web",
        f"127.0.0.1:{port}",
        "--gateway-port",
        str(free_port()),
        "--no-simulator",
        env=sqlite_env,
        log=tmp_path / "stack.log",
    )
    try:
        wait_for_port(port, timeout=60)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        page = opener.open(f"{base}/login/").read().decode()
        assert "Log ind" in page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {"username": "admin", "password": "smoke-test-pw", "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(f"{base}/login/", data=data, headers={"Referer": base})
        landing = opener.open(request)
        assert landing.geturl() == f"{base}/chargers/"
        assert "Opladere" in landing.read().decode()
        # Every process the stack started leads a process group of its own; wait
        # until the worker has forked its pool and beat so they are counted too.
        groups = wait_for(
            lambda: (
                {os.getpgid(c.pid) for c in psutil.Process(proc.pid).children()}
                if len(psutil.Process(proc.pid).children(recursive=True)) >= 4
                else None
            ),
            timeout=30,
            message="the stack's processes",
        )
        assert len(groups) >= 2
        # A part that dies is started again, as a process supervisor would.
        worker = celery_leader(proc)
        os.killpg(worker.pid, signal.SIGKILL)
        revived = wait_for(
            lambda: (w := celery_leader(proc)) and w.pid != worker.pid and w,
            30,
            message="the worker started again",
        )
        groups.add(os.getpgid(revived.pid))
        assert "worker exited with -9; starting it again" in (tmp_path / "stack.log").read_text()
        assert opener.open(f"{base}/chargers/").status == 200
    finally:
        assert stop(proc, signal.SIGINT, timeout=40) == 0, (tmp_path / "stack.log").read_text()
    wait_for(lambda: not in_groups(groups), timeout=15, message="every child process to stop")


def celery_leader(stack: subprocess.Popen) -> psutil.Process | None:
    """The worker process run_stack started (its direct child running celery)."""
    for child in psutil.Process(stack.pid).children():
        try:
            if "celery" in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def in_groups(groups: set[int]) -> list[psutil.Process]:
    """Live processes (anywhere, orphans included) that belong to one of `groups`."""
    alive = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) in groups and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return alive


def test_run_stack_says_in_one_line_when_redis_is_missing(sqlite_env):
    env = dict(sqlite_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    result = manage("run_stack", "--no-simulator", env=env, timeout=60)
    assert result.returncode != 0
    assert "Redis is not reachable" in result.stderr
    assert "Traceback" not in result.stderr
