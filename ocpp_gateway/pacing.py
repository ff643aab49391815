"""Storms paced with OCPP's own brake: BootNotification ``Pending`` with a short interval.

When a storm brings more boots than the gateway can finish promptly (more than
``rate`` accepted in the last second, or the event loop already ``lag_limit`` seconds
behind), a boot is answered ``Pending`` with a jittered ``interval``: OCPP 1.6 and
2.0.1 both define it as the least time before the charger sends its BootNotification
again, and a Pending charger sends nothing else meanwhile. The intervals spread the
waiting chargers over the seconds the gateway needs to admit them at ``rate``; a
charger that asks again once its interval has passed is accepted, so nobody waits
twice. A Pending charger is not registered: its boot is not recorded (no restart is
confirmed by it, no Reset is sent to it) until the boot that is accepted.

The gateway publishes what it can admit beside its liveness (``capacity``: boots a
second; ``admit``: how many more it could take now, 0 while it paces), written by the
liveness thread; ``admission_room`` sums it over the running gateways for the restart
waves, which release no more reboots than the gateways can admit.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable

import redis

from ocpp_gateway import registry

logger = logging.getLogger("ocpp_gateway")

# A loop this far behind on its last tick cannot admit anyone promptly.
STALE_TICK = 1.0
# How long after we made a charger reboot its boot is expected (Pacer.expect).
EXPECT_SECONDS = 120.0


class Pacer:
    """Decides, per BootNotification, whether to accept it now or ask the charger to wait.

    Lives on the event loop (no locks); the liveness thread reads `admission()`'s last
    result through the loop clock.
    """

    def __init__(
        self,
        *,
        rate: int,
        lag_limit: float,
        max_interval: int,
        lag: Callable[[], float] = lambda: 0.0,
        now: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ):
        self.rate = max(1, rate)
        self.lag_limit = lag_limit
        self.max_interval = max(1, max_interval)
        self._lag = lag
        self._now = now
        self._rand = rand
        self._accepted: deque[float] = deque()  # when boots were accepted, the last second
        self._waiting: dict[str, float] = {}  # charge point id → when it may ask again
        self._swept = self._now()  # when the waiting were last looked over
        self._expected: dict[str, float] = {}  # charge point id → until when
        self.pending_answers = 0  # Pending answers given, ever (for /healthz)

    @classmethod
    def for_gateway(cls, config, clock) -> Pacer:
        """From a GatewayConfig, reading how far behind the gateway's loop is now
        (LoopClock.behind). The last tick's lag would hold for up to a tick after the
        loop caught up with a burst of handshakes, and answer Pending every boot in it
        (a storm of 1,000 on a busy machine: all 1,000 Pending, each waiting a second or
        more although the loop was keeping time again)."""
        return cls(
            rate=config.boot_rate,
            lag_limit=config.pacing_lag,
            max_interval=config.pending_max_interval,
            lag=clock.behind,
        )

    def expect(self, charge_point_id: str, expected: bool = True) -> None:
        """We made this charger reboot (its Reset, or a TriggerMessage for its boot, was
        written): its next boot within EXPECT_SECONDS is let in past the rate. The
        restart waves already released no more reboots than the gateways could admit,
        and pacing them again held a bulk restart's tail a second longer for nothing.
        It still counts against the rate (strangers wait for it), and a loop that is
        behind still asks it to wait. `expected` False: it refused after all."""
        if expected:
            self._expected[charge_point_id] = self._now() + EXPECT_SECONDS
        else:
            self._expected.pop(charge_point_id, None)

    def boot(self, charge_point_id: str) -> int | None:
        """None: accept this boot now. Else the interval (s) to answer Pending with."""
        now = self._now()
        self._forget(now)
        due = self._waiting.get(charge_point_id)
        if due is not None and now >= due - 0.5:
            # Asked to wait, waited: accepted, whatever the load (nobody waits twice).
            del self._waiting[charge_point_id]
            self._expected.pop(charge_point_id, None)
            self._accepted.append(now)
            return None
        if (
            due is None
            and self._expected.pop(charge_point_id, 0.0) >= now
            and self._lag() <= self.lag_limit
        ):
            self._accepted.append(now)
            return None
        if due is None and not self.busy(now):
            self._accepted.append(now)
            return None
        interval = self._interval()
        self._waiting[charge_point_id] = now + interval
        self.pending_answers += 1
        return interval

    def busy(self, now: float | None = None) -> bool:
        now = self._now() if now is None else now
        self._forget(now)
        return len(self._accepted) >= self.rate or self._lag() > self.lag_limit

    def _interval(self) -> int:
        """1 s and up: the waiting chargers spread over the seconds it takes to admit them.

        The first `rate` waiting come back in 1 s (they were answered at different
        moments, so they come back as spread as they came), the next `rate` in 2 s, and
        so on, with a second of jitter past the first. Drawing every interval from 1 to
        ceil(waiting / rate) + 1 made a storm of 1,000 at 500 a second wait 1 to 3 s
        where 1 s was room enough (and 2 s on average): seconds on the storm's end.
        """
        slot = 1 + len(self._waiting) // self.rate
        if slot > 1:
            slot += int(self._rand() * 2)
        return min(self.max_interval, slot)

    def _forget(self, now: float) -> None:
        while self._accepted and self._accepted[0] <= now - 1.0:
            self._accepted.popleft()
        if now - self._swept >= 1.0:
            # Chargers that never came back (gone, or another gateway took them): left
            # in, they would hold the admission at 0 for good. At most once a second.
            self._swept = now
            late = now - self.max_interval - 5
            for charge_point_id in [k for k, due in self._waiting.items() if due < late]:
                del self._waiting[charge_point_id]
            for charge_point_id in [k for k, until in self._expected.items() if until < now]:
                del self._expected[charge_point_id]

    def forget(self, charge_point_id: str) -> None:
        """Its socket closed: it is not coming back on it (a new one asks afresh)."""
        self._waiting.pop(charge_point_id, None)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def admission(self) -> dict:
        """What this gateway can admit: boots a second, and how many more right now."""
        now = self._now()
        if self.busy(now):
            admit = 0
        else:
            admit = max(0, self.rate - len(self._accepted) - len(self._waiting))
        return {"capacity": self.rate, "admit": admit, "waiting": len(self._waiting)}


def boot_wait(charge_point) -> int | None:
    """The boot handlers' hook: the Pending interval for this charger's boot, or None."""
    pacer = getattr(charge_point.gateway, "pacer", None)
    if pacer is None:
        return None
    interval = pacer.boot(charge_point.id)
    if interval is not None:
        logger.debug("%s: boot answered Pending, interval %ds", charge_point.id, interval)
    return interval


def admission_room(client: redis.Redis, *, grace: float) -> int | None:
    """How many more reboots the running gateways can admit now, summed; None when no
    gateway says (none running, or one from before pacing): then nothing limits waves.

    A gateway whose liveness is older than `grace` (late: its loop may be starved)
    admits nobody until it is heard again.
    """
    keys = list(client.scan_iter(match=registry.alive_key("*"), count=1000))
    if not keys:
        return None
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(key)
            pipe.pttl(key)
        replies = pipe.execute()
    room, said = 0, False
    for n in range(len(keys)):
        value = registry.parse_liveness(replies[2 * n])
        pttl = replies[2 * n + 1]
        if value is None or pttl == -2 or "admit" not in value:
            continue
        said = True
        age = 0.0 if pttl < 0 else max(0.0, value["ttl"] - pttl / 1000)
        if age <= grace:
            room += max(0, int(value["admit"]))
    return room if said else None
