"""The checks a charger's websocket handshake passes before the upgrade (``process_request``).

- ``/ocpp/<charge point id>`` only, an OCPP subprotocol offered, a charge point id the
  database knows, and HTTP Basic auth (user = charge point id) where the charger has a
  password. Refusals are plain HTTP answers: 400, 401 (with WWW-Authenticate), 404, 503
  while stopping. ``/healthz`` answers 200 while the gateway serves.
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
  websockets library's debug log of the handshake. Verified passwords are remembered
  (as a hash) so a reconnect storm does not redo hundreds of slow hash checks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import http
import json
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import NegotiationError

from chargers.models import Charger
from ocpp_gateway.admission import TLS_CERTIFICATE, Refusal, admission, transport_of
from ocpp_gateway.recorder import Recorder
from tenancy.proxies import TrustedProxies, limit_key

logger = logging.getLogger("ocpp_gateway")

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
PATH_PREFIX = "/ocpp/"
# Charger password hashes checked at the same time (each takes a CPU for a while).
PASSWORD_CHECKS_AT_ONCE = 4


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


def _lookup_charger(charge_point_id: str):
    return (
        Charger.objects.filter(charge_point_id=charge_point_id)
        .values_list("pk", "password_hash", "security_profile")
        .first()
    )


def refuse_unauthenticated(connection, charge_point_id: str, reason: str):
    """The one answer to a charger that did not prove who it is, whatever the reason
    (wrong password, a certificate for another id, a downgrade below its profile): the
    reason goes to the log only."""
    logger.warning("%s: refused, %s", charge_point_id, reason)
    response = connection.respond(
        http.HTTPStatus.UNAUTHORIZED, "Basic auth: user = charge point id\n"
    )
    response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
    return response


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
        self._passwords = _PasswordCache()
        self._password_checks = asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)

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
        try:
            found = await self.recorder.in_reader(_lookup_charger, charge_point_id)
        except Exception:
            logger.exception("%s: charger lookup failed", charge_point_id)
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Try again later\n")
        if found is None:
            logger.warning("%s: refused, unknown charge point id", charge_point_id)
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Unknown charge point id\n")
        pk, password_hash, required = found
        decided = await self._admit(connection, request, charge_point_id, password_hash, required)
        if isinstance(decided, Refusal):
            return refuse_unauthenticated(connection, charge_point_id, decided.reason)
        connection.charge_point_id = charge_point_id
        connection.charger_pk = pk
        return None

    async def _admit(self, connection, request, charge_point_id, password_hash, required):
        """The security profile floor and the certificate binding (admission.py)."""
        transport = transport_of(
            connection,
            request,
            getattr(connection, "client_address", None),
            proxy_terminates_tls=self.proxy_terminates_tls,
        )
        if isinstance(transport, Refusal):
            return transport
        certificate = transport.certificate
        proven = (
            transport.tls
            and certificate
            and certificate.proves(charge_point_id, self.client_organisation)
        )
        password_ok = True  # no password stored; or not asked for: a bound certificate, profile 3
        if password_hash and not proven and required < TLS_CERTIFICATE:
            password_ok = await self._password_ok(
                charge_point_id, password_hash, request.headers.get("Authorization")
            )
        decided = admission(
            required=required,
            transport=transport,
            charge_point_id=charge_point_id,
            password_ok=password_ok,
            has_password=bool(password_hash),
            organisation=self.client_organisation,
        )
        if not isinstance(decided, Refusal):
            connection.security_profile = decided
            connection.certificate = certificate if proven else None
        return decided

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
