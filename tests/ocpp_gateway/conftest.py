"""Real gateways on loopback, real Redis, real sockets; chargers: `ocpp` clients or our simulator.

Tests are plain synchronous functions: the asyncio side (the in-process gateway and the
chargers) runs on an event loop in a background thread (`AsyncRunner`), and the test
waits on what a user or charger would see (`tests.helpers.wait_for`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import threading
import urllib.request
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from ocpp import v16, v201
from ocpp.routing import on
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ocpp_gateway.server import Gateway, GatewayConfig
from ocpp_gateway.simulator import SimulatedCharger
from tests.helpers import free_port, spawn, stop, wait_for


class AsyncRunner:
    """An event loop in a background thread that tests hand coroutines to."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout: float = 30):
        return self.submit(coro).result(timeout)

    def call(self, func, *args):
        async def _call():
            return func(*args)

        return self.run(_call())

    def close(self):
        async def _cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(_cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def runner():
    r = AsyncRunner()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def clean_ocpp_keys():
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("ocpp:*"):
        client.delete(key)
    yield
    for key in client.scan_iter("ocpp:*"):
        client.delete(key)
    client.close()


FAST = {
    "heartbeat_interval": 30,
    "presence_timeout": 30,
    "flush_interval": 0.2,
    "ping_interval": 5,
    "ping_timeout": 5,
}


class GatewayFactory:
    def __init__(self, runner):
        self.runner = runner
        self.started: list[Gateway] = []

    def __call__(self, **overrides) -> Gateway:
        options = {**FAST, "port": free_port(), **overrides}
        gateway = self.runner.run(self._make(options))
        self.started.append(gateway)
        return gateway

    async def _make(self, options):
        gateway = Gateway(GatewayConfig.from_settings(host="127.0.0.1", **options))
        await gateway.start()
        return gateway

    def stop(self, gateway):
        self.runner.run(gateway.stop(), timeout=30)


@pytest.fixture
def make_gateway(transactional_db, runner):
    factory = GatewayFactory(runner)
    yield factory
    for gateway in factory.started:
        factory.stop(gateway)


@pytest.fixture
def gateway(make_gateway):
    return make_gateway()


@pytest.fixture
def pki(tmp_path):
    """A CA, another CA, gateway chains (ECDSA and RSA) and a CRL: tests/ocpp_gateway/pki.py."""
    from tests.ocpp_gateway.pki import make_pki

    return make_pki(tmp_path / "pki")


def ws_url(gateway_or_port, charge_point_id: str = "") -> str:
    port = gateway_or_port if isinstance(gateway_or_port, int) else gateway_or_port.port
    base = f"ws://127.0.0.1:{port}/ocpp"
    return f"{base}/{charge_point_id}" if charge_point_id else base


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class SimFleet:
    """Start simulated chargers on the runner; stop them all at teardown."""

    def __init__(self, runner):
        self.runner = runner
        self.running: list[tuple[SimulatedCharger, object]] = []

    def start(self, charge_point_id, url, **kwargs) -> SimulatedCharger:
        kwargs = {"reboot_seconds": 0.3, "backoff_base": 0.2, "backoff_cap": 1.0, **kwargs}
        charger = SimulatedCharger(charge_point_id, url, **kwargs)
        future = self.runner.submit(charger.run())
        self.running.append((charger, future))
        return charger

    def stop(self, charger):
        for sim, future in self.running:
            if sim is charger:
                self.runner.call(sim.stop)
                future.result(15)

    def stop_all(self):
        for sim, _future in self.running:
            self.runner.call(sim.stop)
        for _sim, future in self.running:
            future.result(15)


@pytest.fixture
def sims(runner):
    fleet = SimFleet(runner)
    yield fleet
    fleet.stop_all()


# -- `ocpp`'s own ChargePoint as a client --------------------------------------------------
class Client16(v16.ChargePoint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict]] = []

    @on(Action16.trigger_message)
    def on_trigger_message(self, requested_message, **kwargs):
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        return result16.TriggerMessage(status="Accepted")

    @on(Action16.reset)
    def on_reset(self, type, **kwargs):  # noqa: A002 - the OCPP field name
        self.received.append(("Reset", {"type": type}))
        return result16.Reset(status="Accepted")


class Client201(v201.ChargePoint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict]] = []

    @on(Action201.trigger_message)
    def on_trigger_message(self, requested_message, **kwargs):
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        return result201.TriggerMessage(status="Accepted")


async def open_client(url, charge_point_id, version="1.6", headers=None, ssl=None):
    """Connect `ocpp`'s ChargePoint; returns (cp, websocket, reader task). `ssl`: for wss://."""
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    websocket = await connect(
        f"{url}/{charge_point_id}",
        subprotocols=[subprotocol],
        additional_headers=headers or {},
        compression=None,
        ssl=ssl,
    )
    cls = Client16 if version == "1.6" else Client201
    cp = cls(charge_point_id, websocket, response_timeout=10)

    async def read():
        with contextlib.suppress(ConnectionClosed):
            await cp.start()

    reader = asyncio.ensure_future(read())
    return cp, websocket, reader


# -- the gateway as its own process ---------------------------------------------------------
def database_url() -> str:
    data = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("a gateway subprocess needs a shared database (PostgreSQL)")
    auth = data["USER"] or ""
    if data.get("PASSWORD"):
        auth += f":{data['PASSWORD']}"
    host = data.get("HOST") or "127.0.0.1"
    port = data.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{data['NAME']}"


class GatewayProcess:
    def __init__(self, port: int, gateway_id: str, proc, log: Path):
        self.port = port
        self.gateway_id = gateway_id
        self.proc = proc
        self.log = log

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def gateway_process(transactional_db, tmp_path):
    started: list[GatewayProcess] = []

    def start(gateway_id: str, **env_overrides) -> GatewayProcess:
        port = free_port()
        env = os.environ.copy()
        env.update(
            {
                "DATABASE_URL": database_url(),
                "REDIS_URL": settings.REDIS_URL,
                "OCPP_FLUSH_INTERVAL": "0.2",
                "OCPP_PRESENCE_TIMEOUT": "30",
                "LOG_LEVEL": "INFO",
                **env_overrides,
            }
        )
        log = tmp_path / f"gateway-{gateway_id}.log"
        proc = spawn(
            "manage.py",
            "run_gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--gateway-id",
            gateway_id,
            env=env,
            log=log,
        )
        gp = GatewayProcess(port, gateway_id, proc, log)
        started.append(gp)
        wait_for(gp.healthy, 30, message=f"gateway {gateway_id} /healthz")
        return gp

    yield start
    for gp in started:
        stop(gp.proc)
