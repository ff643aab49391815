"""Who may connect as which charger: the security profile floor and the certificate binding.

The handshake (handshake.py) gathers the transport facts once per request
(``transport_of``) and asks ``admission`` after the charger lookup:

| charger's profile | accepted when |
| --- | --- |
| 1 | its password is right (or it has none), over ws or wss; or a certificate bound to its id |
| 2 | TLS and its password; or TLS and a certificate bound to its id |
| 3 | TLS and a certificate bound to its id (a Basic header is ignored) |

A certificate is *bound* to a charger when its subject has exactly one CN, equal to the
charge point id as stored (OCPP 2.0.1 A00.FR.405; the SAN is not an identity here), and,
when ``OCPP_TLS_CLIENT_ORGANIZATION`` is set, its O is that operator. A certificate for
another id is refused whatever the profile: that is the attack. Every refusal is the
same 401 to the charger; the reason goes only to the log.

Native TLS: the certificate OpenSSL verified. Behind a proxy that terminates TLS
(``OCPP_PROXY_TERMINATES_TLS``, and only from ``TRUSTED_PROXIES``): ``X-Forwarded-Proto``
and ``X-Client-Cert`` (nginx's ``$ssl_client_escaped_cert`` or HAProxy's base64 DER),
checked by that proxy against the CA and CRL; its validity is checked here again.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import logging
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from django.db import DatabaseError
from django.db.models import Count

from tenancy.proxies import ClientAddress

logger = logging.getLogger("ocpp_gateway")

PASSWORD, TLS_PASSWORD, TLS_CERTIFICATE = 1, 2, 3
LOGGED_NAME = 64  # attacker-controlled names are cut to this in log lines


@dataclass(frozen=True)
class ClientCertificate:
    common_names: tuple[str, ...]
    organisation: str
    serial: str  # hex
    sha256: str  # hex fingerprint
    not_after: datetime.datetime
    issuer: str

    @classmethod
    def from_der(cls, der: bytes) -> ClientCertificate:
        cert = x509.load_der_x509_certificate(der)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return cls(
            common_names=tuple(str(a.value) for a in names),
            organisation=str(orgs[0].value) if orgs else "",
            serial=format(cert.serial_number, "x"),
            sha256=hashlib.sha256(der).hexdigest(),
            not_after=cert.not_valid_after_utc,
            issuer=cert.issuer.rfc4514_string(),
        )

    @classmethod
    def from_forwarded(cls, value: str) -> ClientCertificate:
        """nginx's URL-escaped PEM or HAProxy's base64 DER; ValueError if neither."""
        text = unquote(value.strip())
        try:
            if "-----BEGIN CERTIFICATE-----" in text:
                cert = x509.load_pem_x509_certificate(text.encode("ascii"))
                return cls.from_der(cert.public_bytes(Encoding.DER))
            return cls.from_der(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError("not a certificate") from exc

    def binds(self, charge_point_id: str, organisation: str = "") -> str | None:
        """None when this certificate names exactly this charger, else the reason it does not."""
        if len(self.common_names) != 1:
            return f"certificate with {len(self.common_names)} common names"
        if self.common_names[0] != charge_point_id:
            return f"certificate for another id ({self.common_names[0][:LOGGED_NAME]!r})"
        if organisation and self.organisation != organisation:
            return f"certificate of another organisation ({self.organisation[:LOGGED_NAME]!r})"
        return None

    def describe(self) -> str:
        return f"certificate 0x{self.serial[:8]}…, expires {self.not_after:%Y-%m-%d}"

    def proves(self, charge_point_id: str, organisation: str = "") -> bool:
        return self.binds(charge_point_id, organisation) is None


@dataclass(frozen=True)
class Transport:
    client: ClientAddress | None
    tls: bool  # native TLS, or a trusted proxy that terminated it said so
    certificate: ClientCertificate | None  # verified by OpenSSL or by the trusted proxy
    forwarded: bool = False  # the TLS facts came from a proxy's headers


@dataclass(frozen=True)
class Refusal:
    reason: str  # for the log only: the charger gets the same 401 whatever it is


def transport_of(
    connection, request, client: ClientAddress | None, *, proxy_terminates_tls: bool
) -> Transport | Refusal:
    """The transport facts of this handshake, from the socket or a trusted proxy's headers."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is not None:  # ours: headers claiming anything are ignored
        der = ssl_object.getpeercert(binary_form=True)
        return Transport(client, True, ClientCertificate.from_der(der) if der else None)
    if not (proxy_terminates_tls and client is not None and client.via_proxy):
        return Transport(client, False, None)
    proto = (request.headers.get("X-Forwarded-Proto") or "").strip().lower()
    forwarded = (request.headers.get("X-Client-Cert") or "").strip()
    certificate = None
    if forwarded:
        try:
            certificate = ClientCertificate.from_forwarded(forwarded)
        except ValueError:
            return Refusal("the proxy forwarded a client certificate that does not parse")
    return Transport(client, proto in ("https", "wss"), certificate, forwarded=True)


def admission(
    *,
    required: int,
    transport: Transport,
    charge_point_id: str,
    password_ok: bool,
    has_password: bool,
    organisation: str = "",
    now: datetime.datetime | None = None,
) -> Refusal | int:
    """The effective profile this charger connects with, or why it may not connect.

    `password_ok`: the Basic credentials match (True for a charger without a password).
    """
    certificate = transport.certificate
    bound = False
    if certificate is not None:
        reason = certificate.binds(charge_point_id, organisation)
        if reason:
            return Refusal(reason)
        now = now or datetime.datetime.now(datetime.UTC)
        if transport.forwarded and certificate.not_after < now:
            return Refusal("forwarded certificate has expired")
        bound = transport.tls
    if required >= TLS_PASSWORD and not transport.tls:
        return Refusal(f"downgrade: profile {required} needs TLS")
    if required >= TLS_CERTIFICATE and not bound:
        return Refusal("downgrade: profile 3 needs a client certificate for this id")
    if not bound:
        if required == TLS_PASSWORD and not has_password:
            return Refusal("profile 2 needs a password and this charger has none")
        if not password_ok:
            return Refusal("missing or wrong password")
    return TLS_CERTIFICATE if bound else TLS_PASSWORD if transport.tls else PASSWORD


def warn_unservable_profiles(config, tls) -> None:
    """Log at start when chargers need what this gateway does not offer (one query).

    `config` is the GatewayConfig, `tls` its TlsContexts or None.
    """
    from chargers.models import Charger

    if config.proxy_terminates_tls:
        return  # the proxy's TLS and certificate checks stand in for ours
    try:
        counts = dict(
            Charger.objects.filter(security_profile__gte=TLS_PASSWORD)
            .values_list("security_profile")
            .annotate(n=Count("pk"))
            .order_by()
        )
    except DatabaseError:
        logger.exception("could not count the chargers that need TLS")
        return
    if tls is None and counts:
        logger.warning(
            "%d chargers need TLS (security profile 2 or 3) but this gateway serves plain "
            "ws://: they will be refused",
            sum(counts.values()),
        )
    elif tls is not None and counts.get(TLS_CERTIFICATE) and not tls.config.client_ca:
        logger.warning(
            "%d chargers need a client certificate (security profile 3) but no client CA is "
            "configured: they will be refused",
            counts[TLS_CERTIFICATE],
        )
