"""Failed charger logins, counted per client address and per charge point id, in Redis.

A guesser gets a few tries: after ``per_address`` failures from one address, or
``per_charger`` failures against one charge point id, within ``window`` seconds, a
handshake from that address (or for that id) is refused with 429 *before* any password
is checked. The real charger is never locked out by someone attacking its id: a
(charge point id, address) pair that once connected with the right password is "known
good" (a Redis set per charger, ``good_pair_ttl`` seconds) and passes.

Counts live in Redis, so every gateway behind one address sees them (another gateway
learns of a block at its own next failure from that source). The success path reads
nothing from Redis: a block is a local note with an expiry, and the known-good pairs
are written in one pipeline per loop tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

import redis.asyncio as aioredis

from ocpp_gateway import registry

logger = logging.getLogger("ocpp_gateway")

GOOD_PAIRS_REMEMBERED = 50_000


@dataclass(frozen=True)
class ThrottleLimits:
    window: int  # seconds failures are counted
    per_address: int  # failures from one address before 429 (0: no limit)
    per_charger: int  # failures against one id before 429 for new addresses (0: no limit)
    good_pair_ttl: int  # how long a (charge point id, address) success is remembered


class AuthThrottle:
    def __init__(self, client: aioredis.Redis, limits: ThrottleLimits, counters: Counter):
        self.redis = client
        self.limits = limits
        self.counters = counters
        # Blocks seen by this gateway: key -> monotonic time it ends.
        self._blocked: dict[str, float] = {}
        self._good: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._good_to_write: set[tuple[str, str]] = set()
        self._writing: asyncio.Task | None = None

    # -- before the password is checked ------------------------------------------------------
    async def refused(self, charge_point_id: str, address: str | None) -> int | None:
        """Seconds to wait when this attempt is throttled; None when it may go on."""
        now = time.monotonic()
        until = max(
            self._block_until(registry.auth_failures_key("addr", address), now) if address else 0,
            self._block_until(registry.auth_failures_key("cp", charge_point_id), now),
        )
        if not until:
            return None
        if await self._known_good(charge_point_id, address):
            return None
        self.counters["auth_throttled"] += 1
        wait = max(1, int(until - now + 0.999))
        logger.warning(
            "%s: refused for %ds, too many failed logins from %s or for this id",
            charge_point_id,
            wait,
            address or "a trusted proxy",
        )
        return wait

    def _block_until(self, key: str, now: float) -> float:
        until = self._blocked.get(key)
        if until is None:
            return 0
        if until <= now:
            del self._blocked[key]
            return 0
        return until

    async def _known_good(self, charge_point_id: str, address: str | None) -> bool:
        pair = (charge_point_id, address or "")
        if pair in self._good:
            self._good.move_to_end(pair)
            return True
        try:
            found = await self.redis.sismember(registry.auth_good_key(charge_point_id), pair[1])
        except Exception:
            logger.exception("could not read the known-good addresses of %s", charge_point_id)
            return False
        if found:
            self._remember(pair)
        return bool(found)

    # -- after the check --------------------------------------------------------------------
    async def failed(self, charge_point_id: str, address: str | None, reason: str) -> None:
        """Count one failure against the address and the id (one Redis round trip)."""
        self.counters["auth_failures"] += 1
        limits = self.limits
        keys = [("cp", registry.auth_failures_key("cp", charge_point_id), limits.per_charger)]
        if address:
            keys.insert(
                0, ("addr", registry.auth_failures_key("addr", address), limits.per_address)
            )
        counts = {}
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for _kind, key, _limit in keys:
                    pipe.incr(key)
                    pipe.expire(key, limits.window, nx=True)
                    pipe.ttl(key)
                replies = await pipe.execute()
        except Exception:
            logger.exception("could not count a failed login of %s", charge_point_id)
            replies = None
        now = time.monotonic()
        if replies is not None:
            for n, (kind, key, limit) in enumerate(keys):
                count, _set, ttl = replies[3 * n : 3 * n + 3]
                counts[kind] = int(count)
                if limit and int(count) >= limit:
                    left = ttl if isinstance(ttl, int) and ttl > 0 else limits.window
                    self._blocked[key] = now + left
        logger.warning(
            "auth failed for %s from %s (%s): %s from this address, %s for this id",
            charge_point_id,
            address or "a trusted proxy",
            reason,
            counts.get("addr", "-"),
            counts.get("cp", "?"),
        )

    def succeeded(self, charge_point_id: str, address: str | None) -> None:
        """Remember the pair as known good; written to Redis with this tick's others."""
        pair = (charge_point_id, address or "")
        if pair in self._good:
            self._good.move_to_end(pair)
            return
        self._remember(pair)
        self._good_to_write.add(pair)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write_good())

    def _remember(self, pair: tuple[str, str]) -> None:
        self._good[pair] = None
        while len(self._good) > GOOD_PAIRS_REMEMBERED:
            self._good.popitem(last=False)

    async def _write_good(self) -> None:
        while self._good_to_write:
            pairs, self._good_to_write = self._good_to_write, set()
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for charge_point_id, address in pairs:
                        key = registry.auth_good_key(charge_point_id)
                        pipe.sadd(key, address)
                        pipe.expire(key, self.limits.good_pair_ttl)
                    await pipe.execute()
            except Exception:
                logger.exception("could not remember %d known-good charger addresses", len(pairs))
                for pair in pairs:  # asked again from Redis next time: forget locally too
                    self._good.pop(pair, None)

    async def close(self) -> None:
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
