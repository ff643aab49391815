"""A gateway's liveness, kept by a thread that does not starve with the event loop.

Under a storm the event loop can fall seconds behind; liveness refreshed from the loop
then expired, workers read every route of a busy gateway as dead and ended hundreds of
jobs for chargers whose sockets were open. So a daemon thread, with its own Redis
connection, writes ``ocpp:gateway:<id>:alive`` every ``refresh`` seconds with a TTL of
``gone_after`` (60 s)::

    {"v": 1, "life": <uuid of this process>, "ttl": 60, "conns": <open sockets>,
     "lag": <seconds the loop was behind at its last tick>,
     "capacity": <boots a second>, "admit": <boots it can take now>, "waiting": <Pending>}

(the last three from ``pacing.Pacer.admission()``; ``admit`` is 0 when the loop has not
ticked for a second).

Workers read its age from Redis's own clock (``ttl - PTTL``, ``channel``-side in
``commands.gateway_states``): alive while younger than ``OCPP_ALIVE_GRACE``, late
after that (commands wait and are retried, never a verdict), gone once the key
expired. A process that dies or freezes stops refreshing; a loop that has not ticked
for ``stall_limit`` seconds is wedged: the thread gives up liveness (deletes the key)
and calls ``on_stall`` (by default: exit 70, so the supervisor starts it again).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable

import redis

from ocpp_gateway import pacing, registry

logger = logging.getLogger("ocpp_gateway")


def exit_process() -> None:
    logging.shutdown()
    os._exit(70)


class LoopClock:
    """Stamped by the event loop; read by the beacon thread (plain attributes, no lock)."""

    # The event loop stamps `tick` this often (server.Gateway._keep_alive).
    INTERVAL = 0.25

    def __init__(self):
        self.tick = time.monotonic()
        self.lag = 0.0  # how late the last tick came
        self.connections = 0
        # What the gateway can admit (pacing.Pacer.admission()), stamped with the tick.
        self.admission: dict = {}

    def behind(self) -> float:
        """How far the loop is behind now: how overdue its next tick is (0 while it keeps
        time). Unlike `lag`, which holds the last tick's lateness until the next tick
        comes, this is 0 again as soon as the loop has caught up with a burst."""
        return max(0.0, time.monotonic() - self.tick - self.INTERVAL)


class LivenessBeacon(threading.Thread):
    def __init__(
        self,
        *,
        redis_url: str,
        gateway_id: str,
        clock: LoopClock,
        refresh: float,
        gone_after: int,
        stall_limit: float,
        on_stall: Callable[[], None] | None = None,
    ):
        super().__init__(name=f"ocpp-liveness-{gateway_id}", daemon=True)
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.key = registry.alive_key(gateway_id)
        self.gateway_id = gateway_id
        self.life = uuid.uuid4().hex
        self.clock = clock
        self.refresh = refresh
        self.gone_after = gone_after
        self.stall_limit = stall_limit
        self.on_stall = on_stall or exit_process
        # Set when our key was gone (Redis lost its data, or we were frozen past the TTL):
        # the loop then writes every route of ours again.
        self.routes_lost = threading.Event()
        self._stop = threading.Event()
        self.beats = 0

    def beat(self) -> bool:
        """Write the key once; False when it was not there before."""
        admission = dict(self.clock.admission)
        if admission and time.monotonic() - self.clock.tick > pacing.STALE_TICK:
            admission["admit"] = 0  # a loop this far behind admits nobody promptly
        value = registry.liveness_value(
            life=self.life,
            ttl=self.gone_after,
            conns=self.clock.connections,
            lag=round(self.clock.lag, 3),
            **admission,
        )
        previous = self.client.set(self.key, value, ex=self.gone_after, get=True)
        self.beats += 1
        return previous is not None

    def run(self) -> None:
        while not self._stop.wait(self.refresh):
            stalled = time.monotonic() - self.clock.tick
            if stalled > self.stall_limit:
                logger.critical(
                    "gateway %s: event loop stalled %ds: giving up liveness and exiting",
                    self.gateway_id,
                    stalled,
                )
                self._give_up()
                self.on_stall()
                return
            try:
                if not self.beat():
                    self.routes_lost.set()
            except redis.RedisError as exc:
                logger.warning("could not refresh the liveness key: %s", exc)

    def _give_up(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.client.delete(self.key)

    def stop(self) -> None:
        """Stop refreshing and drop the key: workers see this gateway gone at once."""
        self._stop.set()
        if self.is_alive():
            self.join(5)
        self._give_up()
        self.client.close()
