"""How one gateway process serves: ``GatewayConfig.from_settings()`` (the ``OCPP_*`` settings)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.conf import settings

from ocpp_gateway.auth_throttle import ThrottleLimits
from ocpp_gateway.tls import TlsConfig
from tenancy.proxies import TrustedProxies, trusted_proxies


def default_gateway_id(port: int) -> str:
    return f"{socket.gethostname()}:{port}"


@dataclass(frozen=True)
class GatewayConfig:
    """How one gateway process serves. Times are seconds; 0 switches pings off."""

    host: str
    port: int  # 0: any free port (the gateway's ``port`` says which, once started)
    gateway_id: str  # its name in the command channel
    redis_url: str
    heartbeat_interval: int  # given to chargers in the BootNotification answer
    presence_timeout: float  # silent for longer: disconnected
    flush_interval: float  # how often the recorder writes to the database
    max_frame_bytes: int
    ping_interval: float
    ping_timeout: float
    close_timeout: float
    open_timeout: float  # a handshake must finish within this
    max_connections_per_ip: int  # 0: no limit
    trusted_proxies: TrustedProxies  # whose X-Forwarded-For names the client
    legacy_hash_queue: int  # legacy (PBKDF2) password checks waiting at most
    auth_failure_window: int  # seconds failed logins are counted
    auth_failures_per_address: int  # 0: no limit
    auth_failures_per_charger: int  # 0: no limit
    auth_good_pair_ttl: int  # seconds a (charger, address) success is remembered
    alive_refresh: float  # the liveness thread writes our key this often
    gone_after: int  # the key's TTL: silent this long, we count as gone
    loop_stall_limit: float  # a loop silent this long gives up liveness (on_stall)
    boot_rate: int  # boots accepted a second at most; more are answered Pending
    pacing_lag: float  # a loop this far behind answers boots Pending
    pending_max_interval: int  # the longest interval a Pending answer asks for
    tls: TlsConfig | None = None  # wss:// on `port` (ocpp_gateway/tls.py)
    plain_port: int | None = None  # with tls: ws:// on this port too (0: any free port)
    proxy_terminates_tls: bool = False  # believe X-Forwarded-Proto/X-Client-Cert from proxies
    client_organisation: str = ""  # a charger certificate's O must be this, when set
    metrics_allowed_ips: tuple[str, ...] = ()  # who may read /metrics; empty: nobody
    on_stall: Callable[[], None] | None = field(default=None, compare=False)  # None: exit 70

    @classmethod
    def from_settings(cls, **overrides) -> GatewayConfig:
        """The settings (``OCPP_*``, ``REDIS_URL``), with `overrides` by field name.

        An override of None keeps the default; the gateway id defaults to host name:port
        (also when given empty, as an unset `$GATEWAY_ID` on the command line is).
        """
        given = {name: value for name, value in overrides.items() if value is not None}
        if not given.get("gateway_id", True):
            del given["gateway_id"]
        if "trusted_proxies" in given:
            given["trusted_proxies"] = TrustedProxies.parse(given["trusted_proxies"])
        if "tls" not in given:
            given["tls"] = TlsConfig.from_settings()
        if given["tls"] is not None and "plain_port" not in given:
            given["plain_port"] = settings.OCPP_PLAIN_PORT
        port = given.get("port", 9000)
        defaults = cls(
            host="127.0.0.1",
            port=port,
            gateway_id=default_gateway_id(port),
            redis_url=settings.REDIS_URL,
            heartbeat_interval=settings.OCPP_HEARTBEAT_INTERVAL,
            presence_timeout=settings.OCPP_PRESENCE_TIMEOUT,
            flush_interval=settings.OCPP_FLUSH_INTERVAL,
            max_frame_bytes=settings.OCPP_MAX_FRAME_BYTES,
            ping_interval=settings.OCPP_PING_INTERVAL,
            ping_timeout=settings.OCPP_PING_TIMEOUT,
            close_timeout=5,
            open_timeout=settings.OCPP_OPEN_TIMEOUT,
            max_connections_per_ip=settings.OCPP_MAX_CONNECTIONS_PER_IP,
            trusted_proxies=trusted_proxies(),
            legacy_hash_queue=settings.OCPP_LEGACY_HASH_QUEUE,
            auth_failure_window=settings.OCPP_AUTH_FAILURE_WINDOW,
            auth_failures_per_address=settings.OCPP_AUTH_FAILURES_PER_ADDRESS,
            auth_failures_per_charger=settings.OCPP_AUTH_FAILURES_PER_CHARGER,
            auth_good_pair_ttl=settings.OCPP_AUTH_GOOD_PAIR_TTL,
            alive_refresh=settings.OCPP_ALIVE_REFRESH,
            gone_after=settings.OCPP_GATEWAY_GONE_AFTER,
            loop_stall_limit=settings.OCPP_LOOP_STALL_LIMIT,
            boot_rate=settings.OCPP_BOOT_RATE,
            pacing_lag=settings.OCPP_PACING_LAG,
            pending_max_interval=settings.OCPP_PENDING_MAX_INTERVAL,
            proxy_terminates_tls=settings.OCPP_PROXY_TERMINATES_TLS,
            client_organisation=settings.OCPP_TLS_CLIENT_ORGANIZATION,
            metrics_allowed_ips=tuple(settings.METRICS_ALLOWED_IPS),
        )
        return replace(defaults, **given)

    @property
    def throttle_limits(self) -> ThrottleLimits:
        return ThrottleLimits(
            window=self.auth_failure_window,
            per_address=self.auth_failures_per_address,
            per_charger=self.auth_failures_per_charger,
            good_pair_ttl=self.auth_good_pair_ttl,
        )
