"""Simulated chargers: many in one asyncio process, speaking OCPP 1.6J or 2.0.1 over real sockets.

Used by ``manage.py simulate_chargers`` (the demo), by the tests and by benchmarks::

    charger = SimulatedCharger("CP-1", "ws://127.0.0.1:9000/ocpp", ocpp_version="2.0.1")
    fleet = Fleet([charger, ...])
    await fleet.run()          # until fleet.stop()
    fleet.stats()["CP-1"]["resets"]

Each charger boots, sends StatusNotification, heartbeats, and on Reset answers per its
behaviour (``behaviours.py``: its field habits). An accepted Reset closes its socket;
it stays away ``reboot_seconds`` (``slow_back_seconds`` for slow_back), reconnects
(backoff with jitter) and sends BootNotification. A connection lost without a Reset is
re-established without BootNotification, as a field charger does. What each charger
received is counted in ``ChargerStats`` (``sim_stats.py``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import ssl
from pathlib import Path
from urllib.parse import quote

from ocpp.exceptions import SecurityError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ocpp_gateway.behaviours import (
    CHARGING_BEHAVIOURS,
    ChargingSession,
    Sim16,
    Sim201,
    TimedHabits,
    now_iso,
    split_habits,
)
from ocpp_gateway.sim_stats import ChargerStats
from ocpp_gateway.sim_transport import check_transport, client_ssl_context  # noqa: F401

logger = logging.getLogger("ocpp_gateway.simulator")
frame_logger = logging.getLogger("ocpp_gateway.frames")

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


class SimulatedCharger:
    def __init__(
        self,
        charge_point_id: str,
        url: str,
        *,
        ocpp_version: str = "1.6",
        password: str | None = None,
        behaviour: str = "accept",
        reboot_seconds: float = 3.0,
        slow_back_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
        session_seconds: float = 60.0,
        boot_delay: float = 4.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        call_timeout: float = 10.0,
        vendor: str = "Wallbox",
        model: str = "Pulsar Plus",
        firmware_version: str = "6.4.12",
        serial_number: str | None = None,
        rng: random.Random | None = None,
        security_profile: int = 1,
        ssl_context: ssl.SSLContext | None = None,
    ):
        check_transport(url, security_profile, ssl_context)
        behaviour, timed = split_habits(behaviour)  # ValueError for an unknown one
        if ocpp_version not in SUBPROTOCOL:
            raise ValueError(f"unknown OCPP version {ocpp_version!r}")
        self.id = charge_point_id
        self.url = url.rstrip("/") + "/" + quote(charge_point_id, safe="")
        self.ocpp_version = ocpp_version
        self.password = password
        # Profile 3 proves itself with its certificate (in `ssl_context`) and sends no password.
        self.security_profile = security_profile
        self.ssl_context = ssl_context
        self.behaviour = behaviour
        self.reboot_seconds = reboot_seconds
        self.slow_back_seconds = (
            slow_back_seconds if slow_back_seconds is not None else max(10 * reboot_seconds, 30)
        )
        # unregistered: connected this long before it sends its BootNotification
        self.boot_delay = boot_delay
        self.registered = False  # its boot was accepted on the open socket
        self.heartbeat_seconds = heartbeat_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.call_timeout = call_timeout
        # Cut to the shortest limit the two versions' BootNotification schemas allow.
        self.vendor = vendor[:20]
        self.model = model[:20]
        self.firmware_version = firmware_version[:50]
        self.serial_number = (serial_number or f"SIM-{charge_point_id}")[:25]
        self.rng = rng or random.Random()
        self.stats = ChargerStats()
        self.connected = False
        self.last_error = ""
        self._cp = None
        self._stop: asyncio.Event | None = None
        self._reboot: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        # One session per connector the habit charges on (two_sessions: the second lasts
        # twice as long); a 2.0.1 OnIdle Reset waits for the last to end.
        self.sessions = [ChargingSession(self, session_seconds)]
        if behaviour == "two_sessions":
            self.sessions.append(ChargingSession(self, 2 * session_seconds, connector=2))
        self.reset_scheduled = False
        self.habits = TimedHabits(self, timed)

    @property
    def charging(self) -> bool:
        """A session runs on some connector."""
        return any(session.running for session in self.sessions)

    # -- the life of a charger -----------------------------------------------------------
    async def run(self) -> None:
        self._stop = asyncio.Event()
        need_boot = True
        attempt = 0
        while not self._stop.is_set():
            try:
                websocket = await connect(
                    self.url,
                    subprotocols=[SUBPROTOCOL[self.ocpp_version]],
                    additional_headers=self._auth_headers(),
                    compression=None,
                    open_timeout=15,
                    close_timeout=2,
                    **({"ssl": self.ssl_context} if self.ssl_context else {}),
                )
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.stats.handshake_failures += 1
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                logger.debug("%s: connect failed: %s", self.id, self.last_error)
                await self._pause(self._backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            self.stats.connects += 1
            outcome = await self._online(websocket, need_boot)
            if outcome == "stop":
                break
            if outcome == "reboot":
                need_boot = self.behaviour != "back_without_boot"
                if self.behaviour == "never_back":
                    logger.info("%s: rebooting and never coming back", self.id)
                    await self._stop.wait()
                    break
                away = (
                    self.slow_back_seconds if self.behaviour == "slow_back" else self.reboot_seconds
                )
                await self._pause(away * self.rng.uniform(1.0, 1.2))
            else:  # the connection was lost: reconnect, no BootNotification
                need_boot = False
                await self._pause(self._backoff(0))

    def stop(self) -> None:
        """Ask the charger to go away (closes its socket with 1001). Call on its loop."""
        if self._stop is not None:
            self._stop.set()

    def reboot(self) -> None:
        """Restart now, as after a power cut: close the socket, stay away `reboot_seconds`,
        reconnect and send BootNotification. Call on its loop."""
        if self._cp is not None:
            self.spawn(self.reboot_now("PowerUp"))

    async def call(self, payload, *, skip_schema_validation: bool = False):
        """Send one call on the open connection and return the answer (the load generator's
        door: benchmarks send Heartbeat/StatusNotification as fast as they are answered)."""
        cp = self._cp
        if cp is None:
            raise ConnectionError(f"{self.id} is not connected")
        return await cp.call(payload, skip_schema_validation=skip_schema_validation)

    @property
    def current_connection(self):
        """The charger-side ChargePoint of the open socket, or None."""
        return self._cp

    def _auth_headers(self) -> dict[str, str]:
        if not self.password or self.security_profile >= 3:
            return {}
        token = base64.b64encode(f"{self.id}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return delay * self.rng.uniform(0.5, 1.5)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _online(self, websocket, need_boot: bool) -> str:
        cls = Sim16 if self.ocpp_version == "1.6" else Sim201
        cp = cls(self.id, websocket, response_timeout=self.call_timeout, logger=frame_logger)
        cp.sim = self
        self._cp = cp
        self._reboot = asyncio.Event()
        self.connected = True
        self.registered = False  # a field charger registers again on each socket
        reader = asyncio.create_task(cp.start())
        life = asyncio.create_task(self._live(cp, need_boot))
        rebooting = asyncio.create_task(self._reboot.wait())
        stopping = asyncio.create_task(self._stop.wait())
        waiting = {reader, life, rebooting, stopping}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiting | self._tasks:
                task.cancel()
            self.connected = False
            self._cp = None
        if self._reboot.is_set():
            outcome, code, reason = "reboot", 1000, "rebooting"
        elif self._stop.is_set():
            outcome, code, reason = "stop", 1001, "simulator stopping"
        else:
            outcome, code, reason = "lost", 1000, "reconnecting"
            if life.done() and not life.cancelled() and life.exception():
                self.last_error = repr(life.exception())
        with contextlib.suppress(Exception):
            await websocket.close(code, reason)
        return outcome

    async def _live(self, cp, need_boot: bool) -> None:
        interval = self.heartbeat_seconds
        if need_boot:
            if self.behaviour == "unregistered":  # takes its time to register
                await asyncio.sleep(self.boot_delay)
            boot_interval = await self._boot(cp, self.boot_reason)
            interval = interval or boot_interval
        await self.send_status(cp)
        for session in self.sessions:
            if self.behaviour in CHARGING_BEHAVIOURS and session.state == "none":
                await session.begin(cp)
            if session.running:
                self.spawn(session.finish_later())
        self.habits.start()
        if self.behaviour == "pings_only":  # alive by websocket pings and pongs alone
            await asyncio.Future()
        interval = interval or 60
        while True:
            await asyncio.sleep(interval)
            await cp.call(self._payloads.Heartbeat())
            self.stats.heartbeats += 1

    async def _boot(self, cp, reason: str) -> float:
        while True:
            if self.ocpp_version == "1.6":
                payload = call16.BootNotification(
                    charge_point_model=self.model,
                    charge_point_vendor=self.vendor,
                    charge_point_serial_number=self.serial_number,
                    firmware_version=self.firmware_version,
                )
            else:
                payload = call201.BootNotification(
                    charging_station={
                        "model": self.model,
                        "vendor_name": self.vendor,
                        "serial_number": self.serial_number,
                        "firmware_version": self.firmware_version,
                    },
                    reason=reason,
                )
            answer = await cp.call(payload)
            if answer is not None and answer.status == "Accepted":
                self.registered = True
                self.stats.boots += 1
                logger.info("%s: booted", self.id)
                return float(answer.interval or 60)
            await asyncio.sleep(float(getattr(answer, "interval", 0) or 5))

    @property
    def _payloads(self):
        return call16 if self.ocpp_version == "1.6" else call201

    def _status_word(self, session: ChargingSession) -> str:
        if self.habits.faulted and session.connector == 1:
            return "Faulted"
        if session.running:
            return "Charging" if self.ocpp_version == "1.6" else "Occupied"
        return "Available"

    async def send_status(self, cp) -> None:
        """Every connector's status (1.6: connector 0, the charger, first)."""
        if self.ocpp_version == "1.6":
            await cp.call(
                call16.StatusNotification(connector_id=0, error_code="NoError", status="Available")
            )
        for session in self.sessions:
            status = self._status_word(session)
            if self.ocpp_version == "1.6":
                await cp.call(
                    call16.StatusNotification(
                        connector_id=session.connector, error_code="NoError", status=status
                    )
                )
            else:
                await cp.call(
                    call201.StatusNotification(
                        timestamp=now_iso(),
                        connector_status=status,
                        evse_id=session.connector,
                        connector_id=1,
                    )
                )

    # -- resets --------------------------------------------------------------------------
    def reset_answer(self, reset_type: str) -> str:
        if self.behaviour == "reject":
            return "Rejected"
        if self.behaviour == "unregistered" and not self.registered:
            raise SecurityError("not registered yet")  # answered as a CallError
        if self.ocpp_version == "2.0.1" and reset_type == "OnIdle" and self.charging:
            self.reset_scheduled = True
            return "Scheduled"
        return "Accepted"

    def after_reset_answer(self, reset_type: str) -> None:
        if self.behaviour == "reject" or self.reset_scheduled:
            return
        self.spawn(self.reboot_now(f"{reset_type}Reset"))

    @property
    def boot_reason(self) -> str:
        """Its next boot's reason (2.0.1): RemoteReset after a Reset, else PowerUp."""
        return "RemoteReset" if self.stats.resets else "PowerUp"

    async def reboot_now(self, reason: str) -> None:
        self.habits.reset()
        cp = self._cp
        for session in self.sessions:
            if cp is not None and session.running:
                await session.end(cp, reason)
        await asyncio.sleep(0.05)  # let the Reset answer leave before the socket closes
        if self._reboot is not None:
            self._reboot.set()

    # -- triggered messages --------------------------------------------------------------
    async def send_triggered(self, requested: str) -> None:
        cp = self._cp
        if cp is None:
            return
        if requested == "BootNotification":
            await self._boot(cp, "Triggered")
        elif requested == "Heartbeat":
            await cp.call(self._payloads.Heartbeat())
        elif requested == "StatusNotification":
            await self.send_status(cp)

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionClosed | TimeoutError):
                logger.warning("%s: %r", self.id, exc)


class Fleet:
    """Many simulated chargers on one event loop."""

    def __init__(self, chargers: list[SimulatedCharger]):
        self.chargers = {charger.id: charger for charger in chargers}

    async def run(self) -> None:
        await asyncio.gather(*(charger.run() for charger in self.chargers.values()))

    def stop(self) -> None:
        for charger in self.chargers.values():
            charger.stop()

    def stats(self) -> dict[str, dict]:
        return {cp_id: charger.stats.to_dict() for cp_id, charger in self.chargers.items()}

    def write_stats(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.stats(), indent=1, sort_keys=True))
        tmp.replace(path)
