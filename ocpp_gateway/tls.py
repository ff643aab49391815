"""TLS in the gateway itself: ``wss://`` for security profiles 2 and 3.

- ``TlsConfig``: the certificate chains to serve (an ECDSA and an RSA one serve every
  suite OCPP lists), the CA of charger certificates, its CRL, the cipher string.
  ``OCPP_TLS_*`` settings or ``run_gateway --tls-cert/--tls-key/--client-ca/--client-crl``.
- ``build_context``: TLS 1.2 at least. With a client CA a charger *may* send a
  certificate (``CERT_OPTIONAL``): one port serves profile 2 and 3 chargers. OpenSSL
  checks chain, validity, purpose (``clientAuth``) and, with a CRL, revocation during
  the TLS handshake; a bad certificate never reaches the websocket handshake. Whose
  certificate it is (its CN against the charge point id) is the handshake's question.
- ``TlsContexts``: the listener's context hands each handshake the *current* context
  (in its SNI callback, which runs for every client, with or without SNI), so
  ``watch()`` can swap in a context built from changed files (a new CRL, a renewed
  server certificate) without a restart. A file that does not load keeps the old
  context and is logged as an error; a CRL near its nextUpdate is warned about (an
  expired CRL makes OpenSSL refuse every certificate: it fails closed).
- TLS-level refusals are invisible to asyncio (nothing is logged, the app never hears
  of them): ``TlsRefusals`` counts them by reason through ``SSLContext.sslobject_class``
  and ``watch()`` logs one summary line per interval.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("ocpp_gateway")

# Python 3.13's default server ciphers, plus the two RSA-key-exchange GCM suites the OCPP
# CSMS test cases require (TC_086_CSMS) beside the ECDHE-ECDSA GCM ones.
DEFAULT_CIPHERS = (
    "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"
    ":AES128-GCM-SHA256:AES256-GCM-SHA384"
)
CRL_WARNING = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class TlsConfig:
    chains: tuple[tuple[Path, Path], ...]  # (certificate chain, key) pairs
    client_ca: Path | None = None
    client_crl: Path | None = None
    ciphers: str = DEFAULT_CIPHERS
    strict: bool = True  # OpenSSL's X.509 strict mode for charger certificates
    reload_interval: float = 60.0  # seconds between looks at the files
    summary_interval: float = 10.0  # seconds between lines summing up TLS refusals

    @classmethod
    def from_settings(cls, **overrides) -> TlsConfig | None:
        """The ``OCPP_TLS_*`` settings with `overrides` by field; None when no chain is set."""
        certs = overrides.pop("certs", None) or settings.OCPP_TLS_CERT
        keys = overrides.pop("keys", None) or settings.OCPP_TLS_KEY
        given = {name: value for name, value in overrides.items() if value not in (None, "")}
        client_ca = given.pop("client_ca", settings.OCPP_TLS_CLIENT_CA)
        client_crl = given.pop("client_crl", settings.OCPP_TLS_CLIENT_CRL)
        if not certs and not keys:
            if client_ca or client_crl:
                raise ImproperlyConfigured(
                    "A client CA (or CRL) is set but no TLS certificate: give --tls-cert and "
                    "--tls-key (OCPP_TLS_CERT, OCPP_TLS_KEY) too."
                )
            return None
        if len(certs) != len(keys):
            raise ImproperlyConfigured(
                f"TLS: {len(certs)} certificate(s) but {len(keys)} key(s); they pair in order."
            )
        config = cls(
            chains=tuple((Path(c), Path(k)) for c, k in zip(certs, keys, strict=True)),
            client_ca=Path(client_ca) if client_ca else None,
            client_crl=Path(client_crl) if client_crl else None,
            ciphers=settings.OCPP_TLS_CIPHERS or DEFAULT_CIPHERS,
            strict=settings.OCPP_TLS_CLIENT_STRICT,
            reload_interval=settings.OCPP_TLS_RELOAD_INTERVAL,
        )
        return replace(config, **given)

    def files(self) -> list[Path]:
        paths = [path for chain in self.chains for path in chain]
        return paths + [p for p in (self.client_ca, self.client_crl) if p is not None]

    def validate(self) -> None:
        """Refuse to start with a configuration that cannot work, before binding a port."""
        if not self.chains:
            raise ImproperlyConfigured("TLS needs at least one certificate chain and key.")
        if self.client_crl and not self.client_ca:
            raise ImproperlyConfigured("A client CRL needs the client CA it belongs to.")
        for path in self.files():
            if not os.access(path, os.R_OK):
                raise ImproperlyConfigured(f"TLS: cannot read {path}")
        try:
            build_context(self)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ImproperlyConfigured(f"TLS: the files do not load: {exc}") from exc


def build_context(config: TlsConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(config.ciphers)
    for cert, key in config.chains:
        ctx.load_cert_chain(cert, key)
    if config.client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=config.client_ca)
        if config.client_crl:
            ctx.load_verify_locations(cafile=config.client_crl)
            ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        if not config.strict:
            ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return ctx


class TlsRefusals:
    """TLS handshakes that failed, by reason: since the last summary, and in all."""

    def __init__(self):
        self.recent: Counter[str] = Counter()
        self.total: Counter[str] = Counter()

    def count(self, reason: str) -> None:
        self.recent[reason] += 1
        self.total[reason] += 1

    def flush(self, interval: float) -> None:
        if not self.recent:
            return
        summary = ", ".join(f"{reason} ×{n}" for reason, n in self.recent.most_common())
        self.recent.clear()
        logger.warning("TLS handshakes refused in the last %gs: %s", interval, summary)


# Raised all the time by a non-blocking handshake, or a peer simply going away: no refusal.
_NOT_REFUSALS = (
    ssl.SSLWantReadError,
    ssl.SSLWantWriteError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    ssl.SSLSyscallError,
)


class _ReportingSSLObject(ssl.SSLObject):
    refusals: TlsRefusals

    def do_handshake(self):
        try:
            return super().do_handshake()
        except ssl.SSLCertVerificationError as exc:
            self.refusals.count(exc.verify_message or "certificate refused")
            raise
        except _NOT_REFUSALS:
            raise
        except ssl.SSLError as exc:
            self.refusals.count((exc.reason or "TLS error").lower().replace("_", " "))
            raise


def _fingerprint(paths: list[Path]) -> tuple:
    def one(path: Path):
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    return tuple(one(path) for path in paths)


@dataclass
class TlsContexts:
    """The listener's context and the current one it hands every handshake."""

    config: TlsConfig
    refusals: TlsRefusals = field(default_factory=TlsRefusals)

    def __post_init__(self):
        self.config.validate()
        self.current = build_context(self.config)
        self.outer = build_context(self.config)
        self.outer.sslobject_class = type(
            "ReportingSSLObject", (_ReportingSSLObject,), {"refusals": self.refusals}
        )
        self.outer.sni_callback = self._pick
        self._seen = _fingerprint(self.config.files())
        if not self.config.strict:
            logger.warning("TLS: X.509 strict mode is off for charger certificates")
        self._check_crl()

    def _pick(self, ssl_object, server_name, context):
        ssl_object.context = self.current
        return None

    def describe(self) -> str:
        parts = [f"{len(self.config.chains)} certificate chain(s)"]
        if self.config.client_ca:
            parts.append(f"client certificates from {self.config.client_ca}")
        if self.config.client_crl:
            parts.append(f"CRL {self.config.client_crl}")
        return ", ".join(parts)

    async def reload_if_changed(self) -> bool:
        seen = _fingerprint(self.config.files())
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            fresh = await asyncio.to_thread(build_context, self.config)
        except (ssl.SSLError, OSError, ValueError) as exc:
            logger.error("TLS: changed files do not load (%s); serving with the old ones", exc)
            return False
        self.current = fresh
        logger.info("TLS: reloaded certificates and CRL (%s)", self.describe())
        self._check_crl()
        return True

    def _check_crl(self) -> None:
        if not self.config.client_crl:
            return
        try:
            crl = x509.load_pem_x509_crl(self.config.client_crl.read_bytes())
        except (OSError, ValueError):
            return  # the context build says what is wrong with it
        next_update = crl.next_update_utc
        if next_update is None:
            return
        left = next_update - datetime.datetime.now(datetime.UTC)
        if left < CRL_WARNING:
            logger.warning(
                "TLS: the client CRL %s expires %s%s; replace it or every charger "
                "certificate will be refused",
                self.config.client_crl,
                next_update.isoformat(timespec="minutes"),
                " (already expired)" if left.total_seconds() < 0 else "",
            )

    async def watch(self) -> None:
        """Look at the files every reload interval; sum up refusals every summary interval."""
        interval = self.config.summary_interval
        tick = min(interval, self.config.reload_interval)
        last_reload = last_summary = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - last_summary >= interval:
                self.refusals.flush(interval)
                last_summary = now
            if now - last_reload >= self.config.reload_interval:
                last_reload = now
                try:
                    await self.reload_if_changed()
                except Exception:
                    logger.exception("TLS: checking the certificate files failed")
