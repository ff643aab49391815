"""The checks a charger's websocket handshake passes before the upgrade (``process_request``).

- ``/ocpp/<charge point id>`` only, an OCPP subprotocol offered, a charge point id the
  database knows, and HTTP Basic auth (user = charge point id) where the charger has a
  password. Refusals are plain HTTP answers: 400, 401, 404 (a path that is no charger
  URL), 503 while stopping. ``/healthz`` answers 200 while the gateway serves.
- An unknown charge point id and a wrong (or missing) password get the same answer,
  after the same work (one lookup, one keyed hash): ``refuse_unauthenticated``, 401 with
  ``WWW-Authenticate``. The log says which it was; the wire does not, so ids cannot be
  listed from outside.
- Failed logins are counted per client address and per charge point id
  (``auth_throttle.py``); past a limit a handshake is refused 429 before any check,
  except for an (id, address) pair that once connected with the right password.
- One client address (an IPv6 one: its /64) holds at most ``max_connections_per_ip``
  sockets, handshakes in flight included (more are refused with 429). The default is
  high (a whole NAT'ed site shares one address): it is a memory backstop, not the
  protection against guessing. Behind a reverse proxy listed in
  ``trusted_proxies`` the client address is the one it forwards (``tenancy.proxies``:
  ``X-Forwarded-For`` read from the right, past our own proxies).
- The charger's security profile is a floor (admission.py): profile 2 needs TLS, profile
  3 a client certificate whose CN is its id; a certificate for another id is refused
  whatever the profile. Every such refusal, like a wrong password, is the same 401.
- Charger passwords never reach a log: the Authorization header is masked in the
  websockets library's debug log of the handshake.
- Passwords are keyed hashes (``chargers/credentials.py``) checked on the event loop in
  microseconds, so a reconnect storm of passworded chargers costs what one without
  does. A legacy (PBKDF2) string is checked on one dedicated thread, never the default
  pool the ``ocpp`` library uses, with at most ``legacy_hash_queue`` waiting (more:
  503 with Retry-After); after a success it is rewritten as a keyed hash.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import http
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import NegotiationError
from websockets.frames import Frame

from chargers import credentials
from chargers.models import Charger
from ocpp_gateway.admission import TLS_CERTIFICATE, Refusal, admission, transport_of
from ocpp_gateway.auth_throttle import AuthThrottle
from ocpp_gateway.charger_lookup import ChargerLookup, ChargerRecord
from ocpp_gateway.recorder import Recorder
from tenancy.proxies import TrustedProxies, limit_key

logger = logging.getLogger("ocpp_gateway")

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
PATH_PREFIX = "/ocpp/"


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


class CountedConnection(ServerConnection):
    """A server connection that gives back its client address slot when it closes, and
    notes when it last received any frame: OCPP, a ping, a pong (presence counts them all).
    """

    client_slot: tuple[Counter, str] | None = None
    # time.monotonic() of the last frame of any kind; 0 before the first.
    last_frame_at: float = 0.0

    def process_event(self, event) -> None:
        if isinstance(event, Frame):
            self.last_frame_at = time.monotonic()
        super().process_event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        slot, self.client_slot = self.client_slot, None
        if slot is not None:
            counter, address = slot
            counter[address] -= 1
            if counter[address] <= 0:
                del counter[address]


def _upgrade_credential(pk: int, old: str, new: str) -> int:
    """Replace a legacy string by its keyed hash, unless the portal changed it meanwhile."""
    return Charger.objects.filter(pk=pk, password_hash=old).update(password_hash=new)


def refuse_unauthenticated(connection, charge_point_id: str, reason: str):
    """The one answer to a charger that did not prove who it is, whatever the reason
    (unknown id, no or wrong password, a certificate for another id, a downgrade below
    its profile): the reason goes to the log only."""
    logger.warning("%s: refused, %s", charge_point_id, reason)
    response = connection.respond(
        http.HTTPStatus.UNAUTHORIZED, "Basic auth: user = charge point id\n"
    )
    response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
    return response


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    reason: str = ""  # why not: for the log, never for the wire
    upgrade_to: str = ""  # a keyed hash to store instead of the legacy string verified


class LegacyHashBusy(Exception):
    """Too many legacy password checks waiting for the one slow-hash thread."""


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


def select_subprotocol(connection, offered):
    # The charger lists what it speaks in its order of preference.
    for subprotocol in offered:
        if subprotocol in SUBPROTOCOLS:
            return subprotocol
    raise NegotiationError("no OCPP subprotocol offered")


class Handshake:
    """``process_request`` for websockets' ``serve()``.

    A handshake that passes leaves ``charge_point_id`` and ``charger_pk`` on the
    connection. `health` gives the body of ``/healthz``; `stopping` says the gateway
    no longer takes sockets.
    """

    def __init__(
        self,
        *,
        recorder: Recorder,
        max_connections_per_ip: int,
        trusted_proxies: TrustedProxies | Iterable[str],
        stopping: Callable[[], bool],
        health: Callable[[], dict],
        legacy_hash_queue: int = 200,
        proxy_terminates_tls: bool = False,
        client_organisation: str = "",
    ):
        self.recorder = recorder
        self.max_connections_per_ip = max_connections_per_ip
        self.trusted_proxies = TrustedProxies.parse(trusted_proxies)
        self.stopping = stopping
        self.health = health
        self.proxy_terminates_tls = proxy_terminates_tls
        self.client_organisation = client_organisation
        # Open sockets (and handshakes past our checks) per client address.
        self.clients: Counter[str] = Counter()
        # Legacy (PBKDF2) strings: one thread of their own, a bounded queue in front.
        self.legacy_hash_queue = legacy_hash_queue
        self.legacy_hash_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="ocpp-legacy-hash"
        )
        self._legacy_waiting = 0
        self._upgrades: set[asyncio.Task] = set()
        self.lookup = ChargerLookup(recorder)
        # Failed logins per address and per id (set by the gateway once Redis is there).
        self.throttle: AuthThrottle | None = None

    async def process_request(self, connection: ServerConnection, request):
        path = urlsplit(request.path).path
        if path == "/healthz":
            if self.stopping():
                return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "stopping\n")
            response = connection.respond(http.HTTPStatus.OK, json.dumps(self.health()) + "\n")
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
        if self.stopping():
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Gateway stopping\n")
        refused = self._take_client_slot(connection, request, charge_point_id)
        if refused is not None:
            return refused
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
        address = self._client_address(connection, request)
        if self.throttle is not None:
            wait = await self.throttle.refused(charge_point_id, address)
            if wait is not None:
                response = connection.respond(
                    http.HTTPStatus.TOO_MANY_REQUESTS, "Too many failed logins; try again later\n"
                )
                response.headers["Retry-After"] = str(wait)
                return response
        try:
            record = await self.lookup.get(charge_point_id)
        except Exception:
            logger.exception("%s: charger lookup failed", charge_point_id)
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Try again later\n")
        if record is None:
            # The same work and the same answer as a wrong password.
            auth = await self.check_credentials(
                charge_point_id, None, request.headers.get("Authorization")
            )
            if self.throttle is not None:
                await self.throttle.failed(charge_point_id, address, auth.reason)
            return refuse_unauthenticated(connection, charge_point_id, auth.reason)
        try:
            decided, auth = await self._admit(connection, request, charge_point_id, record)
        except LegacyHashBusy:
            logger.warning("%s: refused for now, too many legacy password checks", charge_point_id)
            response = connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Try again later\n")
            response.headers["Retry-After"] = str(random.randint(5, 15))
            return response
        if isinstance(decided, Refusal):
            if auth is not None and not auth.ok and self.throttle is not None:
                await self.throttle.failed(charge_point_id, address, auth.reason)
            return refuse_unauthenticated(connection, charge_point_id, decided.reason)
        if auth is not None and auth.ok:
            if self.throttle is not None:
                self.throttle.succeeded(charge_point_id, address)
            if auth.upgrade_to:
                self._upgrade(charge_point_id, record.pk, record.password_hash, auth.upgrade_to)
        connection.charge_point_id = charge_point_id
        connection.charger_pk = record.pk
        return None

    async def _admit(self, connection, request, charge_point_id, record: ChargerRecord):
        """The security profile floor and the certificate binding (admission.py), with
        the password checked where one is needed: (decision, the password check or None)."""
        transport = transport_of(
            connection,
            request,
            getattr(connection, "client_address", None),
            proxy_terminates_tls=self.proxy_terminates_tls,
        )
        if isinstance(transport, Refusal):
            return transport, None
        certificate = transport.certificate
        proven = (
            transport.tls
            and certificate
            and certificate.proves(charge_point_id, self.client_organisation)
        )
        required = record.security_profile
        auth = None  # no password stored; or not asked for: a bound certificate, profile 3
        if record.password_hash and not proven and required < TLS_CERTIFICATE:
            auth = await self.check_credentials(
                charge_point_id, record, request.headers.get("Authorization")
            )
        decided = admission(
            required=required,
            transport=transport,
            charge_point_id=charge_point_id,
            password_ok=auth is None or auth.ok,
            has_password=bool(record.password_hash),
            organisation=self.client_organisation,
        )
        if not isinstance(decided, Refusal):
            connection.security_profile = decided
            connection.certificate = certificate if proven else None
        return decided, auth

    def _take_client_slot(self, connection, request, charge_point_id: str):
        """Count this handshake against its client address; a 429 answer when over the limit."""
        address = self._client_address(connection, request)
        if address is None or self.max_connections_per_ip <= 0:
            return None
        address = limit_key(address)  # an IPv6 client counts per /64
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
        return None

    def _client_address(self, connection: ServerConnection, request) -> str | None:
        """Whom a connection limit applies to; None for a trusted proxy speaking for itself."""
        peer = connection.remote_address[0] if connection.remote_address else "unknown"
        client = self.trusted_proxies.resolve(peer, request.headers.get_all("X-Forwarded-For"))
        connection.client_address = client
        if client.via_proxy and not client.forwarded:
            return None  # the proxy itself, local tools and simulators
        return client.address

    async def check_credentials(
        self, charge_point_id: str, record: ChargerRecord | None, header
    ) -> AuthResult:
        """Check the Basic credentials against the charger's stored string (keyed: on the
        loop). An unknown id (`record` None) costs the same keyed hash and fails."""
        presented = _basic_credentials(header)
        raw = presented[1] if presented else ""
        if record is None:
            credentials.dummy_verify(raw)
            return AuthResult(False, "unknown charge point id")
        if presented is None:
            credentials.dummy_verify(raw)
            return AuthResult(False, "no credentials")
        if presented[0] != charge_point_id:
            credentials.dummy_verify(raw)
            return AuthResult(False, "credentials for another id")
        encoded = record.password_hash
        verdict = credentials.verify(encoded, raw)
        if verdict.slow:
            ok = await self._verify_legacy(encoded, raw)
            return AuthResult(
                ok, "" if ok else "wrong password", credentials.make(raw) if ok else ""
            )
        if not verdict.ok:
            return AuthResult(False, "wrong password")
        return AuthResult(True, upgrade_to=credentials.make(raw) if verdict.upgrade else "")

    async def _verify_legacy(self, encoded: str, raw: str) -> bool:
        if self._legacy_waiting >= self.legacy_hash_queue:
            raise LegacyHashBusy
        self._legacy_waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.legacy_hash_executor, credentials.verify_slow, encoded, raw
            )
        finally:
            self._legacy_waiting -= 1

    def _upgrade(self, charge_point_id: str, pk: int, old: str, new: str) -> None:
        """Store the keyed hash in the background: the socket does not wait for it."""

        async def write():
            try:
                if await self.recorder.in_writer(_upgrade_credential, pk, old, new):
                    logger.info("%s: OCPP password moved to the current key", charge_point_id)
            except Exception:
                logger.exception("%s: could not store the upgraded password", charge_point_id)

        task = asyncio.create_task(write())
        self._upgrades.add(task)
        task.add_done_callback(self._upgrades.discard)

    async def close(self) -> None:
        """Finish the password upgrades under way; stop the legacy hash thread."""
        if self.throttle is not None:
            await self.throttle.close()
        if self._upgrades:
            await asyncio.gather(*self._upgrades, return_exceptions=True)
        self.legacy_hash_executor.shutdown(wait=False, cancel_futures=True)
