"""The field habits of a simulated charger, and how it answers the gateway's calls.

The habits (``BEHAVIOURS``), as the simulated charger (``simulator.py``) plays them:

- ``accept`` (default): Reset answered Accepted, then a reboot and a BootNotification;
- ``reject``: Rejected; ``no_answer``: never answers a Reset;
- ``never_back``: Accepted and never reconnects; ``slow_back``: stays away longer;
- ``charging``: a session runs from the first boot (``ChargingSession``);
- ``two_sessions``: two connectors charge from the first boot, the second session
  lasting twice as long as the first (a session ending on one says nothing about the
  other);
- ``pings_only``: never sends Heartbeat; the websocket's pings and pongs keep it alive;
- ``drop_answer``: a hard reset that cuts power before the answer leaves: never answers
  the Reset, drops the socket, comes back and boots;
- ``back_without_boot``: Accepted, reboots, reconnects with StatusNotification only and
  boots only when asked (TriggerMessage);
- ``unregistered``: on each socket sends its BootNotification only ``boot_delay``
  seconds after connecting, and refuses a Reset before that with CallError SecurityError.

Timed habits take seconds and join a behaviour with ``+`` (``reject+faulted_after=30``),
once per run, counted from the first boot (``TimedHabits``):

- ``faulted_after=SECONDS``: then reports connector 1 ``Faulted`` and stays so until a
  Reset reboots it;
- ``unresponsive_after=SECONDS``: then stays connected (heartbeats go on) but answers
  no call of the gateway, except a Reset, which reboots it healthy.

``assign_behaviours`` hands them out over a fleet. The charger-side ChargePoints
(``Sim16``, ``Sim201``) count what the gateway sends and leave the answers to the
simulated charger they belong to (their ``sim``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import UTC, datetime

from ocpp import v16, v201
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

logger = logging.getLogger("ocpp_gateway.simulator")

BEHAVIOURS = (
    "accept",
    "reject",
    "no_answer",
    "never_back",
    "slow_back",
    "charging",
    "two_sessions",
    "pings_only",
    "drop_answer",
    "back_without_boot",
    "unregistered",
)
CHARGING_BEHAVIOURS = ("charging", "two_sessions")
TRIGGERABLE = ("BootNotification", "Heartbeat", "StatusNotification")
TIMED_HABITS = ("faulted_after", "unresponsive_after")


def split_habits(spec: str) -> tuple[str, dict[str, float]]:
    """ "reject+faulted_after=30" -> ("reject", {"faulted_after": 30.0}); ValueError if unknown."""
    behaviour, timed = "accept", {}
    for part in (spec or "accept").split("+"):
        name, sep, value = part.strip().partition("=")
        if name in TIMED_HABITS and sep:
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not 0 <= seconds < 1e7:
                raise ValueError(f"{name} takes seconds, got {value!r}")
            timed[name] = seconds
        elif name in BEHAVIOURS and not sep:
            behaviour = name
        else:
            raise ValueError(
                f"unknown behaviour {part!r}; one of {', '.join(BEHAVIOURS)}, "
                f"or {'=SECONDS, '.join(TIMED_HABITS)}=SECONDS"
            )
    return behaviour, timed


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def assign_behaviours(
    ids: list[str],
    explicit: dict[str, str],
    shares: dict[str, float],
    rng: random.Random,
) -> dict[str, str]:
    """Explicit behaviours first; each share then takes that fraction of the fleet from the rest."""
    for kind in list(explicit.values()) + list(shares):
        split_habits(kind)  # raises ValueError for an unknown one
    result = {cp_id: explicit.get(cp_id, "accept") for cp_id in ids}
    free = [cp_id for cp_id in ids if cp_id not in explicit]
    rng.shuffle(free)
    for kind, share in shares.items():
        take = min(len(free), round(share * len(ids)))
        for cp_id in free[:take]:
            result[cp_id] = kind
        free = free[take:]
    return result


# -- the charger side of the socket -----------------------------------------------------
class _SimMixin:
    """Charger-side handlers shared by both versions; `sim` is the simulated charger."""

    sim = None  # the SimulatedCharger this socket belongs to

    async def route_message(self, raw_msg):
        try:
            msg = json.loads(raw_msg)
        except ValueError:
            msg = None
        if isinstance(msg, list) and len(msg) == 4 and msg[0] == 2:
            action = msg[2]
            self.sim.stats.received[action] += 1
            if action == "Reset":
                reset_type = msg[3].get("type") if isinstance(msg[3], dict) else None
                self.sim.stats.resets += 1
                self.sim.stats.reset_types.append(str(reset_type))
                if self.sim.charging:
                    self.sim.stats.resets_while_charging += 1
                self.sim.stats.reset_times.append(time.time())
                logger.info("%s: Reset %s received", self.id, reset_type)
                if self.sim.behaviour == "no_answer":
                    return  # a charger that never answers
                if self.sim.behaviour == "drop_answer":
                    self.sim.spawn(self.sim.reboot_now("HardReset"))
                    return  # the power goes before the answer leaves
            elif action == "TriggerMessage":
                self.sim.stats.trigger_messages += 1
            if self.sim.habits.unresponsive and action != "Reset":
                self.sim.stats.unanswered += 1
                return  # the unresponsive_after habit: a zombie that hears but says nothing
        await super().route_message(raw_msg)


class Sim16(_SimMixin, v16.ChargePoint):
    @on(Action16.reset)
    def on_reset(self, type, **kwargs):  # noqa: A002 - the OCPP field name
        return result16.Reset(status=self.sim.reset_answer(type))

    @after(Action16.reset)
    def after_reset(self, type, **kwargs):  # noqa: A002
        self.sim.after_reset_answer(type)

    @on(Action16.trigger_message)
    def on_trigger_message(self, requested_message, **kwargs):
        ok = requested_message in TRIGGERABLE
        return result16.TriggerMessage(status="Accepted" if ok else "NotImplemented")

    @after(Action16.trigger_message)
    def after_trigger_message(self, requested_message, **kwargs):
        self.sim.spawn(self.sim.send_triggered(requested_message))


class Sim201(_SimMixin, v201.ChargePoint):
    @on(Action201.reset)
    def on_reset(self, type, **kwargs):  # noqa: A002
        return result201.Reset(status=self.sim.reset_answer(type))

    @after(Action201.reset)
    def after_reset(self, type, **kwargs):  # noqa: A002
        self.sim.after_reset_answer(type)

    @on(Action201.trigger_message)
    def on_trigger_message(self, requested_message, **kwargs):
        ok = requested_message in TRIGGERABLE
        return result201.TriggerMessage(status="Accepted" if ok else "NotImplemented")

    @after(Action201.trigger_message)
    def after_trigger_message(self, requested_message, **kwargs):
        self.sim.spawn(self.sim.send_triggered(requested_message))


# -- the charging habit -------------------------------------------------------------------
class ChargingSession:
    """A session on one connector (1.6) or EVSE (2.0.1), from the first boot, ``seconds``
    long: the ``charging`` habit has one, ``two_sessions`` two.

    Once per simulator run: 1.6 Start/StopTransaction, 2.0.1 TransactionEvent. In
    2.0.1 an OnIdle Reset while charging is answered Scheduled and done when the
    last session ends; any other Reset ends the sessions first. `sim` is the simulated
    charger: its version, id, counts, status report and reboot.
    """

    def __init__(self, sim, seconds: float, connector: int = 1):
        self.sim = sim
        self.seconds = seconds
        self.connector = connector
        self.state = "none"  # none -> running -> ended
        self.ends_at = 0.0
        self._transaction_id: int | str | None = None
        self._seq_no = 0

    @property
    def running(self) -> bool:
        return self.state == "running"

    async def begin(self, cp) -> None:
        self.state = "running"
        self.ends_at = asyncio.get_running_loop().time() + self.seconds
        sim = self.sim
        sim.stats.sessions_started += 1
        if sim.ocpp_version == "1.6":
            answer = await cp.call(
                call16.StartTransaction(
                    connector_id=self.connector,
                    id_tag="SIMTAG",
                    meter_start=0,
                    timestamp=now_iso(),
                )
            )
            self._transaction_id = answer.transaction_id if answer else 0
        else:
            self._transaction_id = f"{sim.id}-{sim.stats.sessions_started}"[-36:]
            await cp.call(self._transaction_event("Started", "Authorized"))
        await sim.send_status(cp)

    async def finish_later(self) -> None:
        """Wait out the session on the current connection, end it; the last to end does a
        scheduled reset."""
        remaining = self.ends_at - asyncio.get_running_loop().time()
        await asyncio.sleep(max(remaining, 0))
        cp = self.sim.current_connection
        if cp is None or not self.running:
            return
        await self.end(cp, "Local")
        if self.sim.reset_scheduled and not self.sim.charging:
            self.sim.reset_scheduled = False
            logger.info("%s: session over, doing the scheduled reset", self.sim.id)
            await self.sim.reboot_now("ScheduledReset")

    async def end(self, cp, reason: str) -> None:
        sim = self.sim
        self.state = "ended"
        sim.stats.sessions_ended += 1
        if sim.ocpp_version == "1.6":
            stop_reason = {"SoftReset": "SoftReset", "HardReset": "HardReset"}.get(reason, "Local")
            await cp.call(
                call16.StopTransaction(
                    meter_stop=1000,
                    timestamp=now_iso(),
                    transaction_id=int(self._transaction_id or 0),
                    reason=stop_reason,
                )
            )
        else:
            trigger = "ResetCommand" if "Reset" in reason else "EVDeparted"
            stopped = "ImmediateReset" if "Reset" in reason else "Local"
            await cp.call(self._transaction_event("Ended", trigger, stopped_reason=stopped))
        await sim.send_status(cp)

    def _transaction_event(self, event_type: str, trigger: str, stopped_reason: str | None = None):
        self._seq_no += 1
        info = {"transaction_id": self._transaction_id}
        if stopped_reason:
            info["stopped_reason"] = stopped_reason
        return call201.TransactionEvent(
            event_type=event_type,
            timestamp=now_iso(),
            trigger_reason=trigger,
            seq_no=self._seq_no,
            transaction_info=info,
            evse={"id": self.connector, "connector_id": 1},
        )


# -- the timed habits ---------------------------------------------------------------------
class TimedHabits:
    """``faulted_after`` and ``unresponsive_after``: once per run, counted from the first
    boot (a reconnect does not start the clock again); a Reset that reboots the charger
    ends them. `sim` is the simulated charger."""

    def __init__(self, sim, timed: dict[str, float]):
        self.sim = sim
        self.timed = dict(timed)
        self.faulted = False
        self.unresponsive = False
        self._due: dict[str, float] = {}
        self._fired: set[str] = set()

    def start(self) -> None:
        """The charger is online and reported its status: (re)arm what has not fired yet."""
        now = asyncio.get_running_loop().time()
        for name, seconds in self.timed.items():
            due = self._due.setdefault(name, now + seconds)
            if name not in self._fired:
                self.sim.spawn(self._fire_later(name, due))

    async def _fire_later(self, name: str, due: float) -> None:
        await asyncio.sleep(max(due - asyncio.get_running_loop().time(), 0))
        if name in self._fired:
            return
        self._fired.add(name)
        logger.info("%s: %s now", self.sim.id, name)
        if name == "faulted_after":
            self.faulted = True
            cp = self.sim.current_connection
            if cp is not None:
                await self.sim.send_status(cp)
        else:
            self.unresponsive = True

    def reset(self) -> None:
        """Rebooted by a Reset: healthy again."""
        self.faulted = self.unresponsive = False
