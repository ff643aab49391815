"""A gateway's entries in the Redis route table (layout: registry.py).

A socket that opens claims its charger's route (and asks the gateway that held it
before, if another, to let go); one that closes releases it only while it still owns
it. When our liveness key had gone (``liveness.py``: Redis lost its data, or we were
frozen past its TTL) every route of ours is written again. The sweep drops routes of
gone gateways (liveness key expired) and our own stale ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import redis.asyncio as aioredis

from ocpp_gateway import registry
from ocpp_gateway.channel import Evict

logger = logging.getLogger("ocpp_gateway")

# Routes claimed (or released) in one MULTI (pipeline) at most.
CLAIM_BATCH = 500


class Socket(Protocol):
    """What the route table reads of one open socket."""

    id: str
    token: str
    ocpp_version: str
    route_written: bool
    closed: bool


class RouteTable:
    def __init__(self, client: aioredis.Redis, gateway_id: str):
        self.redis = client
        self.gateway_id = gateway_id
        self._delete_if_owned = client.register_script(registry.DELETE_ROUTE_IF_OWNED)
        self._claims: list[tuple[Socket, asyncio.Future]] = []  # waiting to be written
        self._claiming: asyncio.Task | None = None
        self._releases: list[tuple[str, str, asyncio.Future]] = []  # waiting to be dropped
        self._releasing: asyncio.Task | None = None

    def _route(self, conn: Socket) -> registry.Route:
        return registry.Route(self.gateway_id, conn.token, conn.ocpp_version)

    # -- one socket's route ----------------------------------------------------------------
    async def claim(self, conn: Socket) -> None:
        """Route the charger to this socket; the gateway that held it before lets go.

        Returns once the route is in Redis (a command may need it from then on). The
        claims of sockets opening meanwhile are written together: one drain task takes
        every claim waiting (up to ``CLAIM_BATCH``) into one MULTI, so a lone socket
        costs one round trip and a storm of a thousand a few, not one each.
        """
        future = asyncio.get_running_loop().create_future()
        self._claims.append((conn, future))
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.create_task(self._drain_claims())
        await future

    async def _drain_claims(self) -> None:
        while self._claims:
            batch, self._claims = self._claims[:CLAIM_BATCH], self._claims[CLAIM_BATCH:]
            try:
                await self._claim_all([conn for conn, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():  # its socket may have gone meanwhile
                    future.set_result(None)

    async def _claim_all(self, conns: list[Socket]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for conn in conns:
                pipe.hget(registry.ROUTES, conn.id)
                pipe.hset(registry.ROUTES, conn.id, self._route(conn).encode())
            replies = await pipe.execute()
        evictions = []
        for n, conn in enumerate(conns):
            conn.route_written = True
            previous = registry.Route.decode(replies[2 * n])
            if previous and previous.gateway_id != self.gateway_id:
                # The old socket lives in another gateway process: ask it to let go.
                evictions.append(
                    (registry.requests_key(previous.gateway_id), Evict(conn.id, conn.token))
                )
        if evictions:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, evict in evictions:
                    pipe.rpush(key, evict.encode())
                await pipe.execute()

    async def release(self, conn: Socket) -> bool:
        """Drop the charger's route if it is still this socket's (compare-and-delete on
        its token, so the order against a newer socket's claim does not matter). Like
        claims, the releases of sockets closing together go in one pipeline."""
        future = asyncio.get_running_loop().create_future()
        self._releases.append((conn.id, self._route(conn).encode(), future))
        if self._releasing is None or self._releasing.done():
            self._releasing = asyncio.create_task(self._drain_releases())
        return await future

    async def _drain_releases(self) -> None:
        while self._releases:
            batch = self._releases[:CLAIM_BATCH]
            self._releases = self._releases[CLAIM_BATCH:]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for charge_point_id, encoded, _ in batch:
                        await self._delete_if_owned(
                            keys=[registry.ROUTES], args=[charge_point_id, encoded], client=pipe
                        )
                    dropped = await pipe.execute()
            except Exception as exc:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), n in zip(batch, dropped, strict=True):
                if not future.done():
                    future.set_result(bool(n))

    async def _drop_if_owned(self, charge_point_id: str, encoded_route: str):
        return await self._delete_if_owned(
            keys=[registry.ROUTES], args=[charge_point_id, encoded_route]
        )

    # -- all of ours -------------------------------------------------------------------------
    async def restore(self, conns: Iterable[Socket], *, everything: bool) -> None:
        """Write the routes of our sockets that Redis does not have.

        A route whose write failed (Redis away while the charger connected) is retried;
        after Redis lost its data (restarted without persistence) every route is written
        again. HSETNX: a route another socket wrote meanwhile is newer and stays.
        """
        todo = [c for c in list(conns) if (everything or not c.route_written) and not c.closed]
        for conn in todo:
            await self.redis.hsetnx(registry.ROUTES, conn.id, self._route(conn).encode())
            conn.route_written = True
        if todo:
            logger.info("restored %d routes in Redis", len(todo))

    async def held_by_running_gateways(self) -> set[str]:
        """Charge point ids whose route names a gateway that is not gone (its key exists)."""
        routes = await self.redis.hgetall(registry.ROUTES)
        decoded = {}
        for raw_id, raw_route in routes.items():
            route = registry.Route.decode(raw_route)
            if route is not None:
                cp_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                decoded[cp_id] = route.gateway_id
        gateways = sorted(set(decoded.values()))
        if not gateways:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for gateway_id in gateways:
                pipe.exists(registry.alive_key(gateway_id))
            running = {g for g, up in zip(gateways, await pipe.execute(), strict=True) if up}
        return {cp_id for cp_id, gateway_id in decoded.items() if gateway_id in running}

    async def sweep(
        self,
        holds: Callable[[str, str], bool],
        dropped: Callable[[str, registry.Route], Awaitable[None]],
    ) -> None:
        """Drop routes held by dead gateways (or by our own previous life).

        `holds(charge point id, token)` says whether this gateway still has that socket;
        `dropped` is awaited for each route removed (to mark the charger disconnected).
        """
        routes = await self.redis.hgetall(registry.ROUTES)
        alive: dict[str, bool] = {}
        for raw_id, raw_route in routes.items():
            cp_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            route = registry.Route.decode(raw_route)
            if route is None:
                await self.redis.hdel(registry.ROUTES, cp_id)
                continue
            if route.gateway_id == self.gateway_id:
                stale = not holds(cp_id, route.token)
            else:
                if route.gateway_id not in alive:
                    alive[route.gateway_id] = bool(
                        await self.redis.exists(registry.alive_key(route.gateway_id))
                    )
                stale = not alive[route.gateway_id]
            if not stale:
                continue
            raw = raw_route.decode() if isinstance(raw_route, bytes) else raw_route
            if await self._drop_if_owned(cp_id, raw):
                logger.info("%s: dropped the route of gone gateway %s", cp_id, route.gateway_id)
                await dropped(cp_id, route)
