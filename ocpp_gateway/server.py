"""The OCPP gateway: the websocket server chargers connect to, one asyncio process.

- Handshake (``process_request``, before the upgrade): ``/ocpp/<charge point id>``
  only, an OCPP subprotocol offered, a charge point id the database knows, and HTTP
  Basic auth (user = charge point id) where the charger has a password. Refusals are
  plain HTTP answers: 400, 401 (with WWW-Authenticate), 404, 503 while stopping.
  ``/healthz`` answers 200 while the gateway serves.
- Limits: a handshake must finish within ``OCPP_OPEN_TIMEOUT`` seconds, and one client
  address holds at most ``OCPP_MAX_CONNECTIONS_PER_IP`` sockets (more are refused with
  429). Behind a reverse proxy listed in ``OCPP_TRUSTED_PROXIES`` the client address is
  the last one the proxy put in ``X-Forwarded-For``.
- Charger passwords never reach a log: the Authorization header is masked in the
  websockets library's debug log of the handshake.
- One ``ChargePoint`` object per socket (``handlers.py``). A second socket for the same
  id wins; the old one is closed and its clean-up cannot undo the new one (connection
  tokens in the database and in the Redis route are compared before removal).
- Presence: a socket that closes, fails its pings, or sends nothing for longer than
  ``OCPP_PRESENCE_TIMEOUT`` is disconnected. A periodic sweep also disconnects chargers
  left "connected" by a gateway that died (its liveness key expired, or silence).
- Command channel (``commands.py`` is the client): each gateway pops its own Redis list,
  never sends a call whose deadline already passed, and pushes one reply per request.
- ``stop()`` (SIGTERM in ``run_gateway``): stop accepting, close sockets with 1001,
  answer queued commands "not_connected", write the disconnects, drop our routes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import http
import json
import logging
import socket
import time
import uuid
from collections import Counter, OrderedDict
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from django.conf import settings
from django.utils import timezone
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError

from chargers.models import Charger
from ocpp_gateway import registry
from ocpp_gateway.handlers import (
    CHARGE_POINT_CLASSES,
    SUBPROTOCOL_VERSIONS,
    GatewayChargePointMixin,
)
from ocpp_gateway.recorder import Recorder, mark_disconnected, sweep_silent

logger = logging.getLogger("ocpp_gateway")

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
# Charger password hashes checked at the same time (each takes a CPU for a while).
PASSWORD_CHECKS_AT_ONCE = 4
PATH_PREFIX = "/ocpp/"
# Redis connections the gateway keeps open at most, and how long a caller waits for one.
REDIS_POOL_SIZE = 64
REDIS_POOL_WAIT = 30
# Commands taken from the queue in one round trip when a batch of them is waiting.
COMMAND_BATCH = 200


class _MaskCredentials(logging.Filter):
    """Masks the Authorization header in websockets' debug log of each handshake.

    At DEBUG websockets logs every request header ("< %s: %s"); for a charger with a
    password that is its Basic credentials, base64 of "id:password".
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            isinstance(args, tuple)
            and len(args) == 2
            and isinstance(args[0], str)
            and args[0].lower() in ("authorization", "proxy-authorization")
        ):
            record.args = (args[0], "[masked]")
        return True


websockets_logger = logging.getLogger("websockets.server")
if not any(isinstance(f, _MaskCredentials) for f in websockets_logger.filters):
    websockets_logger.addFilter(_MaskCredentials())


class _CountedConnection(ServerConnection):
    """A server connection that gives back its client address slot when it closes."""

    client_slot: tuple[Counter, str] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        slot, self.client_slot = self.client_slot, None
        if slot is not None:
            counter, address = slot
            counter[address] -= 1
            if counter[address] <= 0:
                del counter[address]


def default_gateway_id(port: int) -> str:
    return f"{socket.gethostname()}:{port}"


def _lookup_charger(charge_point_id: str):
    return (
        Charger.objects.filter(charge_point_id=charge_point_id)
        .values_list("pk", "password_hash")
        .first()
    )


class _PasswordCache:
    """Remembers verified (id, stored hash, presented password) triples.

    Checking a Django password hash costs a few hundred milliseconds of CPU on purpose;
    after a mass restart hundreds of chargers reconnect with the same credentials. Keys
    hold a SHA-256 of the presented password, never the password; a changed stored hash
    is a different key.
    """

    def __init__(self, size: int = 10_000):
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], bool] = OrderedDict()

    @staticmethod
    def key(charge_point_id: str, password_hash: str, raw: str) -> tuple[str, str, str]:
        return (charge_point_id, password_hash, hashlib.sha256(raw.encode()).hexdigest())

    def get(self, key) -> bool | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key, value: bool) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _offered_subprotocols(request) -> list[str]:
    offered = []
    for header in request.headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(item.strip() for item in header.split(",") if item.strip())
    return offered


class Gateway:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        gateway_id: str | None = None,
        redis_url: str | None = None,
        heartbeat_interval: int | None = None,
        presence_timeout: float | None = None,
        flush_interval: float | None = None,
        max_frame_bytes: int | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float = 5,
        open_timeout: float | None = None,
        max_connections_per_ip: int | None = None,
        trusted_proxies: list[str] | tuple[str, ...] | None = None,
    ):
        self.host = host
        self.port = port
        self.gateway_id = gateway_id or default_gateway_id(port)
        self.redis_url = redis_url or settings.REDIS_URL
        self.heartbeat_interval = int(heartbeat_interval or settings.OCPP_HEARTBEAT_INTERVAL)
        self.presence_timeout = float(presence_timeout or settings.OCPP_PRESENCE_TIMEOUT)
        self.max_frame_bytes = int(max_frame_bytes or settings.OCPP_MAX_FRAME_BYTES)
        self.ping_interval = settings.OCPP_PING_INTERVAL if ping_interval is None else ping_interval
        self.ping_timeout = settings.OCPP_PING_TIMEOUT if ping_timeout is None else ping_timeout
        self.close_timeout = close_timeout
        self.open_timeout = float(
            settings.OCPP_OPEN_TIMEOUT if open_timeout is None else open_timeout
        )
        self.max_connections_per_ip = int(
            settings.OCPP_MAX_CONNECTIONS_PER_IP
            if max_connections_per_ip is None
            else max_connections_per_ip
        )
        self.trusted_proxies = frozenset(
            settings.OCPP_TRUSTED_PROXIES if trusted_proxies is None else trusted_proxies
        )
        # Open sockets (and handshakes past our checks) per client address.
        self.clients: Counter[str] = Counter()
        self.recorder = Recorder(flush_interval or settings.OCPP_FLUSH_INTERVAL)
        self.connections: dict[str, GatewayChargePointMixin] = {}
        self.stopping = False
        self.redis: aioredis.Redis | None = None
        self._server = None
        self._tasks: list[asyncio.Task] = []
        self._call_tasks: set[asyncio.Task] = set()
        self._passwords = _PasswordCache()
        self._password_checks = asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)
        self._delete_route = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        # A blocking pool: when many sockets open at once (a reconnect storm) their route
        # writes wait for a free connection. redis-py's default pool raises "Too many
        # connections" past 100, and a charger whose route was not written cannot be
        # reached by commands (the benchmarks' bulk restart found one).
        pool = aioredis.BlockingConnectionPool.from_url(
            self.redis_url,
            max_connections=REDIS_POOL_SIZE,
            timeout=REDIS_POOL_WAIT,
            socket_connect_timeout=5,
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self._delete_route = self.redis.register_script(registry.DELETE_ROUTE_IF_OWNED)
        await self._refresh_alive()
        await self._sweep_routes()
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            subprotocols=list(SUBPROTOCOLS),
            compression=None,
            max_size=self.max_frame_bytes,
            max_queue=16,
            ping_interval=self.ping_interval or None,
            ping_timeout=self.ping_timeout or None,
            close_timeout=self.close_timeout,
            open_timeout=self.open_timeout,
            create_connection=_CountedConnection,
            backlog=2048,
            server_header="ocpp-gateway",
        )
        if not self.port:
            self.port = self._server.sockets[0].getsockname()[1]
        for coro in (
            self.recorder.run(),
            self._keep_alive(),
            self._serve_commands(),
            self._watch_presence(),
            self._sweep(),
        ):
            self._tasks.append(asyncio.create_task(coro))
        logger.info(
            "gateway %s serving ws://%s:%s%s<charge point id>",
            self.gateway_id,
            self.host,
            self.port,
            PATH_PREFIX,
        )

    async def stop(self) -> None:
        """Stop accepting, close every socket with 1001, record the disconnects."""
        if self.stopping:
            return
        self.stopping = True
        logger.info("gateway %s stopping", self.gateway_id)
        if self._server is not None:
            self._server.close(close_connections=True)  # 1001 going away
            await self._server.wait_closed()
        # Anything a handler could not clean up (it always should) is cleaned up here.
        for conn in list(self.connections.values()):
            await self._detach(conn)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._call_tasks:
            await asyncio.gather(*self._call_tasks, return_exceptions=True)
        await self._answer_leftover_commands()
        await self.recorder.close()
        if self.redis is not None:
            try:
                await self.redis.delete(registry.alive_key(self.gateway_id))
            except Exception:
                logger.exception("could not drop the liveness key")
            await self.redis.aclose(close_connection_pool=True)
        logger.info("gateway %s stopped", self.gateway_id)

    # -- handshake ---------------------------------------------------------------------
    async def _process_request(self, connection: ServerConnection, request):
        path = urlsplit(request.path).path
        if path == "/healthz":
            if self.stopping:
                return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "stopping\n")
            body = json.dumps(
                {"status": "ok", "gateway": self.gateway_id, "connections": len(self.connections)}
            )
            response = connection.respond(http.HTTPStatus.OK, body + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        if not path.startswith(PATH_PREFIX) or path == PATH_PREFIX:
            return connection.respond(
                http.HTTPStatus.NOT_FOUND,
                f"Chargers connect to {PATH_PREFIX}<charge point id>\n",
            )
        charge_point_id = unquote(path[len(PATH_PREFIX) :])
        if "/" in charge_point_id or len(charge_point_id) > 64:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Unknown charge point id\n")
        if self.stopping:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Gateway stopping\n")
        address = self._client_address(connection, request)
        if address is not None and self.max_connections_per_ip > 0:
            if self.clients[address] >= self.max_connections_per_ip:
                logger.warning(
                    "%s: refused, %s already holds %d sockets",
                    charge_point_id,
                    address,
                    self.clients[address],
                )
                response = connection.respond(
                    http.HTTPStatus.TOO_MANY_REQUESTS, "Too many connections from your address\n"
                )
                response.headers["Retry-After"] = "30"
                return response
            # Held from here on, so that handshakes in flight count too; given back when
            # the socket closes, however the handshake ends.
            self.clients[address] += 1
            connection.client_slot = (self.clients, address)
        offered = _offered_subprotocols(request)
        if not any(p in SUBPROTOCOLS for p in offered):
            logger.warning(
                "%s: refused, no OCPP subprotocol offered (%s)",
                charge_point_id,
                ", ".join(offered) or "none",
            )
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST,
                "Offer an OCPP subprotocol: Sec-WebSocket-Protocol: ocpp2.0.1, ocpp1.6\n",
            )
        try:
            found = await self.recorder.in_reader(_lookup_charger, charge_point_id)
        except Exception:
            logger.exception("%s: charger lookup failed", charge_point_id)
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Try again later\n")
        if found is None:
            logger.warning("%s: refused, unknown charge point id", charge_point_id)
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Unknown charge point id\n")
        pk, password_hash = found
        if password_hash and not await self._password_ok(
            charge_point_id, password_hash, request.headers.get("Authorization")
        ):
            logger.warning("%s: refused, missing or wrong password", charge_point_id)
            response = connection.respond(
                http.HTTPStatus.UNAUTHORIZED, "Basic auth: user = charge point id\n"
            )
            response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
            return response
        connection.charge_point_id = charge_point_id
        connection.charger_pk = pk
        return None

    def _client_address(self, connection: ServerConnection, request) -> str | None:
        """Whom a connection limit applies to; None for a trusted proxy speaking for itself."""
        peer = connection.remote_address[0] if connection.remote_address else "unknown"
        if peer not in self.trusted_proxies:
            return peer
        forwarded = request.headers.get_all("X-Forwarded-For")
        if not forwarded:
            return None  # the proxy itself, local tools and simulators
        # The last entry is the one our proxy appended: the address it saw.
        return forwarded[-1].split(",")[-1].strip() or None

    async def _password_ok(self, charge_point_id: str, password_hash: str, header) -> bool:
        credentials = _basic_credentials(header)
        if credentials is None or credentials[0] != charge_point_id:
            return False
        key = self._passwords.key(charge_point_id, password_hash, credentials[1])
        known = self._passwords.get(key)
        if known is not None:
            return known
        charger = Charger(charge_point_id=charge_point_id, password_hash=password_hash)
        # A hash check costs real CPU on purpose: a few at a time, so a guesser cannot
        # fill the thread pool, and only successes are remembered, so guesses cannot
        # push real chargers' entries out of the cache.
        async with self._password_checks:
            ok = await asyncio.to_thread(charger.check_ocpp_password, credentials[1])
        if ok:
            self._passwords.put(key, ok)
        return ok

    @staticmethod
    def _select_subprotocol(connection, offered):
        # The charger lists what it speaks in its order of preference.
        for subprotocol in offered:
            if subprotocol in SUBPROTOCOLS:
                return subprotocol
        raise NegotiationError("no OCPP subprotocol offered")

    # -- one socket ----------------------------------------------------------------------
    async def _handle(self, websocket: ServerConnection) -> None:
        charge_point_id = websocket.charge_point_id
        subprotocol = websocket.subprotocol
        conn = CHARGE_POINT_CLASSES[subprotocol](
            charge_point_id,
            websocket,
            charger_pk=websocket.charger_pk,
            token=uuid.uuid4().hex,
            gateway=self,
        )
        await self._attach(conn, SUBPROTOCOL_VERSIONS[subprotocol])
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

    async def _attach(self, conn, ocpp_version: str) -> None:
        cp_id = conn.id
        old = self.connections.get(cp_id)
        self.connections[cp_id] = conn
        self.recorder.connected(conn.charger_pk, conn.token, timezone.now(), ocpp_version)
        logger.info("%s: connected (OCPP %s)", cp_id, ocpp_version)
        route = registry.Route(self.gateway_id, conn.token, ocpp_version)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hget(registry.ROUTES, cp_id)
                pipe.hset(registry.ROUTES, cp_id, route.encode())
                previous_raw, _ = await pipe.execute()
            conn.route_written = True
            previous = registry.Route.decode(previous_raw)
            if previous and previous.gateway_id != self.gateway_id:
                # The old socket lives in another gateway process: ask it to let go.
                await self.redis.rpush(
                    registry.requests_key(previous.gateway_id),
                    json.dumps({"kind": "evict", "cp": cp_id, "token": conn.token}),
                )
        except Exception:
            logger.exception("%s: could not write the route; will retry", cp_id)
        if old is not None and old is not conn:
            logger.info("%s: a newer connection replaces the open one", cp_id)
            self._retire(old, "replaced by a newer connection")

    def _retire(self, conn, reason: str, code: int = 1000) -> None:
        conn.connection_lost()
        task = asyncio.create_task(conn._connection.close(code, reason))
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    async def _detach(self, conn) -> None:
        """Forget this socket. Idempotent; never touches a newer socket's state."""
        if conn.detached:
            return
        conn.detached = True
        if self.connections.get(conn.id) is conn:
            del self.connections[conn.id]
        self.recorder.disconnected(conn.charger_pk, conn.token, timezone.now())
        route = registry.Route(self.gateway_id, conn.token, conn._ocpp_version)
        try:
            await self._delete_route(keys=[registry.ROUTES], args=[conn.id, route.encode()])
        except Exception:
            logger.exception("%s: could not drop the route", conn.id)

    # -- presence ------------------------------------------------------------------------
    async def _watch_presence(self) -> None:
        tick = min(1.0, self.presence_timeout / 4)
        while True:
            await asyncio.sleep(tick)
            limit = time.monotonic() - self.presence_timeout
            for conn in list(self.connections.values()):
                if conn.last_frame < limit:
                    logger.warning(
                        "%s: silent for more than %ss; closing", conn.id, self.presence_timeout
                    )
                    await self._detach(conn)
                    self._retire(conn, f"silent for more than {self.presence_timeout:g}s")

    async def _sweep(self) -> None:
        interval = max(1.0, min(30.0, self.presence_timeout / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._sweep_routes()
                own = {conn.charger_pk for conn in self.connections.values()}
                # Allow for our own write batching before calling a charger silent.
                grace = 2 * self.recorder.flush_interval + 1
                swept = await self.recorder.in_writer(
                    sweep_silent, self.presence_timeout + grace, own
                )
                if swept:
                    logger.info("swept %d silent chargers to disconnected", len(swept))
            except Exception:
                logger.exception("presence sweep failed")

    async def _sweep_routes(self) -> None:
        """Drop routes held by dead gateways (or by our own previous life) and disconnect them."""
        routes = await self.redis.hgetall(registry.ROUTES)
        alive: dict[str, bool] = {}
        now = timezone.now()
        for raw_id, raw_route in routes.items():
            cp_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            route = registry.Route.decode(raw_route)
            if route is None:
                await self.redis.hdel(registry.ROUTES, cp_id)
                continue
            if route.gateway_id == self.gateway_id:
                conn = self.connections.get(cp_id)
                stale = conn is None or conn.token != route.token
            else:
                if route.gateway_id not in alive:
                    alive[route.gateway_id] = bool(
                        await self.redis.exists(registry.alive_key(route.gateway_id))
                    )
                stale = not alive[route.gateway_id]
            if not stale:
                continue
            raw = raw_route.decode() if isinstance(raw_route, bytes) else raw_route
            if await self._delete_route(keys=[registry.ROUTES], args=[cp_id, raw]):
                logger.info("%s: dropped the route of gone gateway %s", cp_id, route.gateway_id)
                await self.recorder.in_writer(_disconnect_by_id, cp_id, route.token, now)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(registry.ALIVE_REFRESH)
            try:
                had_key = await self._refresh_alive()
                await self._restore_routes(everything=not had_key)
            except Exception:
                logger.exception("could not refresh the liveness key or the routes")

    async def _refresh_alive(self) -> bool:
        """Refresh our liveness key; False when it was gone (Redis lost its data, or we hung)."""
        previous = await self.redis.set(
            registry.alive_key(self.gateway_id), str(time.time()), ex=registry.ALIVE_TTL, get=True
        )
        return previous is not None

    async def _restore_routes(self, *, everything: bool) -> None:
        """Write the routes of our sockets that Redis does not have.

        A route whose write failed (Redis away while the charger connected) is retried;
        after Redis lost its data (restarted without persistence) every route is written
        again. HSETNX: a route another socket wrote meanwhile is newer and stays.
        """
        conns = [
            conn
            for conn in list(self.connections.values())
            if (everything or not conn.route_written) and not conn.closed
        ]
        for conn in conns:
            route = registry.Route(self.gateway_id, conn.token, conn._ocpp_version)
            await self.redis.hsetnx(registry.ROUTES, conn.id, route.encode())
            conn.route_written = True
        if conns:
            logger.info("restored %d routes in Redis", len(conns))

    # -- the command channel ---------------------------------------------------------------
    async def _serve_commands(self) -> None:
        key = registry.requests_key(self.gateway_id)
        while True:
            try:
                item = await self.redis.blpop([key], timeout=1)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the command queue failed")
                await asyncio.sleep(1)
                continue
            if item is None:
                continue
            await self._take_command(item[1])
            # A batch of requests arrives at once: take what is already queued in one go.
            try:
                more = await self.redis.lpop(key, COMMAND_BATCH) or []
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the command queue failed")
                continue
            pending = list(more)
            try:
                while pending:
                    await self._take_command(pending.pop(0))
            except asyncio.CancelledError:
                if pending:  # back to the head of the queue, for _answer_leftover_commands
                    await self.redis.lpush(key, *reversed(pending))
                raise

    async def _take_command(self, raw) -> None:
        """Handle one command; whatever is wrong with it, the command loop goes on."""
        try:
            await self._handle_command(raw)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("command dropped: %r", raw[:200])

    async def _handle_command(self, raw) -> None:
        try:
            request = json.loads(raw)
            kind = request["kind"]
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable command dropped: %r", raw[:200])
            return
        if kind == "evict":
            conn = self.connections.get(request.get("cp"))
            if conn is not None and conn.token != request.get("token"):
                logger.info("%s: connected through another gateway now; closing here", conn.id)
                await self._detach(conn)
                self._retire(conn, "replaced by a newer connection")
            return
        reply = request.get("reply")
        request_id = request.get("id")
        if kind != "call" or not isinstance(reply, str):
            logger.error("unknown command dropped: %r", raw[:200])
            return
        cp_id, action, payload = request.get("cp"), request.get("action"), request.get("payload")
        try:
            remaining = float(request["deadline"]) - time.time()
        except (KeyError, TypeError, ValueError):
            await self._reply(
                reply, request_id, {"outcome": "error", "detail": "command without a deadline"}
            )
            return
        if remaining <= 0:
            logger.warning(
                "%s: %s not sent: its deadline passed %.1fs before we picked it up",
                cp_id,
                action,
                -remaining,
            )
            await self._reply(
                reply,
                request_id,
                {
                    "outcome": "timeout",
                    "detail": "not sent: the deadline passed before the gateway picked it up",
                },
            )
            return
        if not isinstance(action, str) or not isinstance(payload, dict):
            await self._reply(
                reply, request_id, {"outcome": "error", "detail": "action and payload required"}
            )
            return
        conn = self.connections.get(cp_id)
        if conn is None or conn.closed or self.stopping:
            await self._reply(
                reply,
                request_id,
                {"outcome": "not_connected", "detail": "not connected to this gateway"},
            )
            return
        deadline = asyncio.get_running_loop().time() + remaining
        task = asyncio.create_task(
            self._run_call(conn, action, payload, deadline, reply, request_id)
        )
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    async def _run_call(self, conn, action, payload, deadline, reply, request_id) -> None:
        try:
            result = await conn.send_call(action, payload, deadline)
        except Exception as exc:
            logger.exception("%s: %s failed", conn.id, action)
            result = {"outcome": "error", "detail": f"gateway error: {exc.__class__.__name__}"}
        logger.info(
            "%s: %s -> %s %s %s",
            conn.id,
            action,
            result["outcome"],
            result.get("status") or "",
            result.get("detail") or "",
        )
        await self._reply(reply, request_id, result)

    async def _reply(self, reply_key: str, request_id, result: dict) -> None:
        """Push the answer, naming its request (several requests may share a reply list)."""
        if request_id is not None:
            result = {**result, "id": request_id}
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(reply_key, json.dumps(result))
                pipe.expire(reply_key, registry.REPLY_TTL)
                await pipe.execute()
        except Exception:
            logger.exception("could not deliver a command reply")

    async def _answer_leftover_commands(self) -> None:
        key = registry.requests_key(self.gateway_id)
        try:
            while raw := await self.redis.lpop(key):
                await self._take_command(raw)
        except Exception:
            logger.exception("could not answer the commands left in the queue")

    async def next_transaction_id(self) -> int:
        try:
            return int(await self.redis.incr(registry.TRANSACTION_SEQ)) % 2_147_483_647 or 1
        except Exception:
            logger.exception("transaction id from Redis failed; using the clock")
            return int(time.time()) % 2_147_483_647


def _disconnect_by_id(charge_point_id: str, token: str, at) -> None:
    pk = (
        Charger.objects.filter(charge_point_id=charge_point_id).values_list("pk", flat=True).first()
    )
    if pk is not None:
        mark_disconnected(pk, token, at)
