"""The OCPP gateway: the websocket server chargers connect to, one asyncio process.

The serving loop, composed of small parts:

- ``GatewayConfig`` (``gateway_config.py``): how the process serves (``from_settings``).
- ``liveness.py``: the thread that keeps this gateway's liveness key fresh.
- ``handshake.py``: the checks before the upgrade (path, subprotocol, known charger,
  password, connections per address) and ``/healthz``.
- ``handlers.py`` (on ``charge_point.py``): one ChargePoint object per socket.
- ``routes.py``: which gateway holds which charger, and this one's liveness, in Redis.
- ``command_loop.py``: the calls workers ask for (``commands.py`` is their client).
- ``recorder.py``: what chargers did, written to the database off the loop.

Here: a socket's life and presence. A second socket for the same id wins; the old one
is closed and its clean-up cannot undo the new one (connection tokens in the database
and in the Redis route are compared before removal). A socket that closes, fails its
pings, or sends nothing (no OCPP, no ping, no pong) for longer than ``presence_timeout``
is disconnected. A
periodic sweep also disconnects chargers left "connected" by a gateway that died (its
liveness key expired, or silence). ``stop()`` (SIGTERM in ``run_gateway``): stop
accepting, close sockets with 1001, answer queued commands "not_connected", write the
disconnects, drop our routes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Coroutine

import redis.asyncio as aioredis
from django.utils import timezone
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ocpp_gateway import registry
from ocpp_gateway.admission import warn_unservable_profiles
from ocpp_gateway.auth_throttle import AuthThrottle
from ocpp_gateway.charge_point import GatewayChargePointMixin
from ocpp_gateway.command_loop import CommandLoop
from ocpp_gateway.gateway_config import GatewayConfig, default_gateway_id  # noqa: F401 (re-exported)
from ocpp_gateway.handlers import CHARGE_POINT_CLASSES
from ocpp_gateway.handshake import (
    PATH_PREFIX,
    SUBPROTOCOLS,
    CountedConnection,
    Handshake,
    select_subprotocol,
)
from ocpp_gateway.liveness import LivenessBeacon, LoopClock
from ocpp_gateway.metrics import GatewayMetrics
from ocpp_gateway.pacing import Pacer
from ocpp_gateway.recorder import Recorder, disconnect_by_id, sweep_silent
from ocpp_gateway.routes import RouteTable
from ocpp_gateway.tls import TlsContexts

logger = logging.getLogger("ocpp_gateway")

# Redis connections the gateway keeps open at most, and how long a caller waits for one.
REDIS_POOL_SIZE = 64
REDIS_POOL_WAIT = 30


class Gateway:
    def __init__(self, config: GatewayConfig | None = None):
        self.config = config = config or GatewayConfig.from_settings()
        self.gateway_id = config.gateway_id
        self.host = config.host
        self.port = config.port
        self.recorder = Recorder(config.flush_interval)
        self.connections: dict[str, GatewayChargePointMixin] = {}
        self.stopping = False
        # What happened, counted (auth_failures, auth_throttled, ...): in /healthz.
        self.counters: Counter[str] = Counter()
        # The loop stamps it; the liveness thread reads it.
        self.clock = LoopClock()
        self.beacon: LivenessBeacon | None = None
        self.pacer = Pacer.for_gateway(config, self.clock)  # boots Pending in a storm
        self.handshake = Handshake(
            recorder=self.recorder,
            max_connections_per_ip=config.max_connections_per_ip,
            trusted_proxies=config.trusted_proxies,
            legacy_hash_queue=config.legacy_hash_queue,
            proxy_terminates_tls=config.proxy_terminates_tls,
            client_organisation=config.client_organisation,
            stopping=lambda: self.stopping,
            health=lambda: {
                "status": "ok",
                "gateway": self.gateway_id,
                "connections": len(self.connections),
                "counters": dict(self.counters),
                "pacing": {**self.pacer.admission(), "pending": self.pacer.pending_answers},
            },
        )
        self.metrics = GatewayMetrics(self, config.metrics_allowed_ips)
        self.redis: aioredis.Redis | None = None
        self.routes: RouteTable | None = None
        self.commands: CommandLoop | None = None
        # Built (and checked) before anything else: a TLS file that does not load stops
        # the gateway from starting at all.
        self.tls = TlsContexts(config.tls) if config.tls else None
        self.plain_port = config.plain_port
        self._server = None
        self._plain_server = None
        self._tasks: list[asyncio.Task] = []
        self._call_tasks: set[asyncio.Task] = set()

    @property
    def heartbeat_interval(self) -> int:
        return self.config.heartbeat_interval

    @property
    def presence_timeout(self) -> float:
        return self.config.presence_timeout

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        config = self.config
        # A blocking pool: when many sockets open at once (a reconnect storm) their route
        # writes wait for a free connection. redis-py's default pool raises "Too many
        # connections" past 100, and a charger whose route was not written cannot be
        # reached by commands (the benchmarks' bulk restart found one).
        pool = aioredis.BlockingConnectionPool.from_url(
            config.redis_url,
            max_connections=REDIS_POOL_SIZE,
            timeout=REDIS_POOL_WAIT,
            socket_connect_timeout=5,
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self.routes = RouteTable(self.redis, self.gateway_id)
        self.handshake.throttle = AuthThrottle(self.redis, config.throttle_limits, self.counters)
        self.commands = CommandLoop(self.redis, self.gateway_id, self)
        self.beacon = LivenessBeacon(
            redis_url=config.redis_url,
            gateway_id=self.gateway_id,
            clock=self.clock,
            refresh=config.alive_refresh,
            gone_after=config.gone_after,
            stall_limit=config.loop_stall_limit,
            on_stall=config.on_stall,
        )
        await asyncio.to_thread(self.beacon.beat)
        self.beacon.start()
        await self._sweep_routes()
        await self.recorder.in_reader(warn_unservable_profiles, config, self.tls)
        options = {
            "process_request": self.metrics.wrap(self.handshake.process_request),
            "select_subprotocol": select_subprotocol,
            "subprotocols": list(SUBPROTOCOLS),
            "compression": None,
            "max_size": config.max_frame_bytes,
            "max_queue": 16,
            "ping_interval": config.ping_interval or None,
            "ping_timeout": config.ping_timeout or None,
            "close_timeout": config.close_timeout,
            "open_timeout": config.open_timeout,  # the TLS handshake's limit too
            "create_connection": CountedConnection,
            "backlog": 2048,
            "server_header": "ocpp-gateway",
        }
        tls = self.tls.outer if self.tls else None
        self._server = await serve(self._handle, self.host, self.port, ssl=tls, **options)
        if not self.port:
            self.port = self._server.sockets[0].getsockname()[1]
        if self.tls and self.plain_port is not None:
            # The same handler, checks and state: only the transport differs.
            self._plain_server = await serve(self._handle, self.host, self.plain_port, **options)
            self.plain_port = self._plain_server.sockets[0].getsockname()[1]
        background = [
            self.recorder.run(),
            self._keep_alive(),
            self.commands.run(),
            self._watch_presence(),
            self._sweep(),
        ]
        if self.tls:
            background.append(self.tls.watch())
        self._tasks.extend(asyncio.create_task(coro) for coro in background)
        scheme, described = ("wss", f" ({self.tls.describe()})") if self.tls else ("ws", "")
        if self._plain_server:
            described = described[:-1] + f"; ws:// on port {self.plain_port})"
        logger.info(
            "gateway %s serving %s://%s:%s%s<charge point id>%s",
            self.gateway_id,
            scheme,
            self.host,
            self.port,
            PATH_PREFIX,
            described,
        )

    async def stop(self) -> None:
        """Stop accepting, close every socket with 1001, record the disconnects."""
        if self.stopping:
            return
        self.stopping = True
        logger.info("gateway %s stopping", self.gateway_id)
        for server in (self._server, self._plain_server):
            if server is not None:
                server.close(close_connections=True)  # 1001 going away
                await server.wait_closed()
        # Anything a handler could not clean up (it always should) is cleaned up here.
        for conn in list(self.connections.values()):
            await self._detach(conn)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._call_tasks:
            await asyncio.gather(*self._call_tasks, return_exceptions=True)
        if self.commands is not None:
            await self.commands.answer_leftovers()
        await self.handshake.close()
        await self.recorder.close()
        if self.beacon is not None:
            await asyncio.to_thread(self.beacon.stop)  # workers see us gone at once
        if self.redis is not None:
            await self.redis.aclose(close_connection_pool=True)
        logger.info("gateway %s stopped", self.gateway_id)

    # -- one socket ----------------------------------------------------------------------
    async def _handle(self, websocket: ServerConnection) -> None:
        charge_point_id = websocket.charge_point_id
        conn = CHARGE_POINT_CLASSES[websocket.subprotocol](
            charge_point_id,
            websocket,
            charger_pk=websocket.charger_pk,
            token=uuid.uuid4().hex,
            gateway=self,
        )
        conn.security_profile = getattr(websocket, "security_profile", 1)
        conn.certificate = getattr(websocket, "certificate", None)
        await self._attach(conn)
        try:
            async for message in websocket:
                try:
                    await conn.route_message(message)
                except ConnectionClosed:
                    raise
                except Exception:
                    logger.exception("%s: could not handle a frame", charge_point_id)
        except ConnectionClosed:
            pass
        finally:
            code = websocket.close_code
            reason = websocket.close_reason
            logger.info(
                "%s: socket closed (code %s%s)",
                charge_point_id,
                code if code is not None else "none",
                f", {reason}" if reason else "",
            )
            conn.connection_lost()
            await self._detach(conn)

    async def _attach(self, conn: GatewayChargePointMixin) -> None:
        cp_id = conn.id
        old = self.connections.get(cp_id)
        self.connections[cp_id] = conn
        certificate, now = conn.certificate, conn.connected_at
        expires = certificate.not_after if certificate else None
        facts = (conn.ocpp_version, conn.security_profile, expires)
        self.recorder.connected(conn.charger_pk, conn.token, now, *facts)
        logger.info(
            "%s: connected (OCPP %s, profile %s%s)",
            cp_id,
            conn.ocpp_version,
            conn.security_profile,
            f", {certificate.describe()}" if certificate else "",
        )
        try:
            await self.routes.claim(conn)
        except Exception:
            logger.exception("%s: could not write the route; will retry", cp_id)
        if old is not None and old is not conn:
            logger.info("%s: a newer connection replaces the open one", cp_id)
            self._retire(old, "replaced by a newer connection")

    def _retire(self, conn: GatewayChargePointMixin, reason: str, code: int = 1000) -> None:
        conn.connection_lost()
        self.spawn(conn.close(code, reason))

    async def _detach(self, conn: GatewayChargePointMixin) -> None:
        """Forget this socket. Idempotent; never touches a newer socket's state."""
        if conn.detached:
            return
        conn.detached = True
        if self.connections.get(conn.id) is conn:
            del self.connections[conn.id]
            self.pacer.forget(conn.id)
        self.recorder.disconnected(conn.charger_pk, conn.token, timezone.now())
        try:
            await self.routes.release(conn)
        except Exception:
            logger.exception("%s: could not drop the route", conn.id)

    # -- what the command loop and the handlers use ----------------------------------------
    def socket(self, charge_point_id) -> GatewayChargePointMixin | None:
        return self.connections.get(charge_point_id)

    def expect_boot(self, charge_point_id: str, expected: bool = True) -> None:
        self.pacer.expect(charge_point_id, expected)

    async def evict(self, conn: GatewayChargePointMixin, reason: str, code: int = 1000) -> None:
        """Disconnect this socket and close it."""
        await self._detach(conn)
        self._retire(conn, reason, code)

    def spawn(self, coro: Coroutine) -> None:
        """Run `coro` as a task that stop() waits for (calls to chargers, closing sockets)."""
        task = asyncio.create_task(coro)
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    async def next_transaction_id(self) -> int:
        try:
            return int(await self.redis.incr(registry.TRANSACTION_SEQ)) % 2_147_483_647 or 1
        except Exception:
            logger.exception("transaction id from Redis failed; using the clock")
            return int(time.time()) % 2_147_483_647

    # -- presence ------------------------------------------------------------------------
    async def _watch_presence(self) -> None:
        """Close sockets silent for longer than the presence timeout. Any frame counts:
        OCPP, or a ping or pong (a charger may keep its link alive with pings alone, and
        answers ours); the last-seen time follows those that were not OCPP."""
        timeout = self.presence_timeout
        tick = min(1.0, timeout / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            limit = now - timeout
            for conn in list(self.connections.values()):
                heard = conn.heard_at()
                if heard < limit:
                    logger.warning("%s: silent for more than %ss; closing", conn.id, timeout)
                    await self.evict(conn, f"silent for more than {timeout:g}s")
                elif heard > conn.last_frame and now - heard < tick:
                    self.recorder.seen(conn.charger_pk, timezone.now())

    async def _sweep(self) -> None:
        interval = max(1.0, min(30.0, self.presence_timeout / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._sweep_routes()
                own = {conn.charger_pk for conn in self.connections.values()}
                # Allow for our own write batching before calling a charger silent.
                grace = 2 * self.recorder.flush_interval + 1
                # A charger whose socket a running gateway holds is that gateway's to
                # judge: a busy one may be slow to write its last-seen times.
                held = await self.routes.held_by_running_gateways()
                swept = await self.recorder.in_writer(
                    sweep_silent, self.presence_timeout + grace, own, held
                )
                if swept:
                    logger.info("swept %d silent chargers to disconnected", len(swept))
            except Exception:
                logger.exception("presence sweep failed")

    async def _sweep_routes(self) -> None:
        """Drop routes held by dead gateways (or by our own previous life) and disconnect them."""
        now = timezone.now()

        def holds(charge_point_id: str, token: str) -> bool:
            conn = self.connections.get(charge_point_id)
            return conn is not None and conn.token == token

        async def dropped(charge_point_id: str, route: registry.Route) -> None:
            await self.recorder.in_writer(disconnect_by_id, charge_point_id, route.token, now)

        await self.routes.sweep(holds, dropped)

    async def _keep_alive(self) -> None:
        """Tick for the liveness thread (a wedged loop stops ticking), and write again
        the routes Redis lacks: all of them when our liveness key had gone."""
        clock = self.clock
        tick = clock.INTERVAL
        last_restore = time.monotonic()
        while True:
            before = time.monotonic()
            await asyncio.sleep(tick)
            now = time.monotonic()
            clock.lag = max(0.0, now - before - tick)
            clock.tick = now
            clock.connections = len(self.connections)
            clock.admission = self.pacer.admission()
            if now - last_restore < self.config.alive_refresh:
                continue
            last_restore = now
            lost = self.beacon.routes_lost.is_set()
            try:
                if lost:
                    self.beacon.routes_lost.clear()
                await self.routes.restore(self.connections.values(), everything=lost)
            except Exception:
                if lost:
                    self.beacon.routes_lost.set()
                logger.exception("could not write our routes again")
