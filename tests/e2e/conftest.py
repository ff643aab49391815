"""The live stack for browser tests: web, worker (with beat), gateway, simulated chargers, Chromium.

Everything runs for real on loopback against the test database, which must be
committed for the other processes to see it: these fixtures use pytest-django's
`live_server` (a web server thread on a free port) and `transactional_db`.

    def test_something(stack, make_fleet_online, browser_page, login):
        ...                                   # create chargers/users with the ORM
        make_fleet_online(exclude=["CP-OFF"], behaviours={"CP-REJ": "reject"})
        page = browser_page
        login(page, user)
        page.goto(stack.url("/chargers/"))

Find elements by role and name and wait on what the user sees; never sleep.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, connections

from scripts.prereqs import BROWSER_LINE, PLAYWRIGHT, find_chromium
from tests.helpers import ROOT, free_port, spawn, stop, wait_for, wait_for_port

ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Stack:
    """The running stack: URLs, the environment the processes share, their logs."""

    web_url: str
    gateway_port: int
    env: dict
    logs: Path
    procs: dict = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        return self.web_url.rstrip("/") + path

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}/ocpp"

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _stack_env(tmp_path: Path) -> dict:
    """The test database and Redis, for processes other than this one."""
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env = os.environ.copy()
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # only the test itself needs it (see browser)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        DEBUG="1",
        # Short enough that a test sees the deadlines and the beat work.
        RESTART_ENFORCE_INTERVAL="1",
        RESTART_BOOT_GRACE="5",
        RESTART_CALL_TIMEOUT="10",
        # Self-healing's beat sweep and its waits, short for the same reason.
        HEALING_INTERVAL="1",
        HEALING_SETTLE="2",
        HEALING_PROBE_TIMEOUT="2",
        PYTHONUNBUFFERED="1",
    )
    if db.get("PASSWORD"):
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(
            f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@"
        )
    return env


def _purge_queues() -> None:
    """Tasks left in our Redis database by earlier tests must not reach this worker."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("restarts", "celery", "unacked", "unacked_index")
    client.close()


@pytest.fixture
def stack(live_server, transactional_db, tmp_path):
    """Web (live_server), a Celery worker with the beat, and the OCPP gateway."""
    logs = ARTIFACTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = _stack_env(tmp_path)
    _purge_queues()
    live = Stack(web_url=live_server.url, gateway_port=free_port(), env=env, logs=logs)
    live.procs["gateway"] = spawn(
        "manage.py",
        "run_gateway",
        "--host",
        "127.0.0.1",
        "--port",
        str(live.gateway_port),
        "--gateway-id",
        "e2e",
        env=env,
        log=logs / "gateway.log",
    )
    live.procs["worker"] = spawn(
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-B",
        "-s",
        str(tmp_path / "celerybeat-schedule"),
        "-Q",
        "restarts,celery",
        "--concurrency",
        "2",
        "--loglevel",
        "INFO",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        env=env,
        log=logs / "worker.log",
    )
    try:
        wait_for_port(live.gateway_port)
        wait_for(lambda: "ready." in live.log("worker"), timeout=60, message="celery worker ready")
        yield live
    finally:
        for proc in live.procs.values():
            stop(proc)


@pytest.fixture
def make_fleet_online(stack):
    """Simulate the chargers the test put in the database; wait until they are online.

    exclude: charge point ids that stay offline; behaviours: {id: "reject"|…} (see
    ocpp_gateway/simulator.py). Returns the simulator process.
    """
    from chargers.models import Charger

    started = []

    def start(*, exclude=(), behaviours=None, reboot_seconds=4.0, password=None):
        # The chargers the test made are not demo chargers: named, they are played.
        ids = Charger.objects.exclude(charge_point_id__in=list(exclude)).values_list(
            "charge_point_id", flat=True
        )
        args = [
            "manage.py",
            "simulate_chargers",
            "--id",
            ",".join(sorted(ids)),
            "--url",
            stack.ocpp_url,
            "--reboot-seconds",
            str(reboot_seconds),
            "--seed",
            "5",
        ]
        if password:  # for the chargers that require one
            args += ["--password", password]
        for cp_id, kind in (behaviours or {}).items():
            args += ["--behaviour", f"{cp_id}={kind}"]
        proc = spawn(*args, env=stack.env, log=stack.logs / "simulator.log")
        started.append(proc)
        stack.procs["simulator"] = proc
        expected = Charger.objects.exclude(charge_point_id__in=list(exclude)).count()
        wait_for(
            lambda: (
                Charger.objects.filter(is_connected=True, last_boot_at__isnull=False).count()
                == expected
            ),
            timeout=60,
            message=f"{expected} simulated chargers online",
        )
        return proc

    yield start
    for proc in started:
        stop(proc)


@pytest.fixture
def browser(monkeypatch):
    """Chromium for one test (Playwright's loop must not outlive the test, see below)."""
    from playwright.sync_api import sync_playwright

    # The same finder `make test` used to install one (scripts/prereqs.py): a direct
    # pytest run without a browser fails here with the fix, it never skips silently.
    found = find_chromium()
    if found is None:
        pytest.fail(BROWSER_LINE, pytrace=False)
    # Playwright's sync API keeps an event loop running in this thread while it is
    # open; the test's own ORM calls are still plain synchronous ones, so Django may
    # allow them for this test (and never for the stack's processes, see _stack_env).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=None if found == PLAYWRIGHT else found,
            args=CHROMIUM_ARGS,
            headless=True,
        )
        yield chromium
        chromium.close()
        # The test's ORM connection was opened while Playwright's loop ran, so it
        # belongs to that context: close it here, or the test database stays in use.
        connections.close_all()


@pytest.fixture
def browser_page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="da-DK")
    page = context.new_page()
    messages = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        (ARTIFACTS / f"{request.node.name}.console.txt").write_text("\n".join(messages))
    context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def login(stack):
    """Log `user` in by giving the browser a real session cookie (no login form)."""
    from django.test import Client

    def log_in(page, user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": stack.web_url}]
        )

    return log_in


def screenshot(page_or_locator, name: str) -> Path:
    """Save a screenshot to tests/e2e/artifacts/, and for the README to docs/screenshots/
    when it is not there yet or UPDATE_SCREENSHOTS=1 (so a test run leaves the tree clean)."""
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    path = shots / name
    page_or_locator.screenshot(path=str(path))
    readme_copy = SCREENSHOTS / name
    if os.getenv("UPDATE_SCREENSHOTS") == "1" or not readme_copy.exists():
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        readme_copy.write_bytes(path.read_bytes())
    return path
