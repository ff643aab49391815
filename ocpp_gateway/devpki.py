"""A small certificate authority for development, tests and benchmarks (``cryptography``).

Real X.509 as OpenSSL's strict mode (Python 3.13's default) wants it: a CA with
basic constraints, key usage and key identifiers; leaves with an authority key
identifier, key usage and the extended key usage of their side (``clientAuth`` for a
charger, ``serverAuth`` for the gateway); CRLs. The charger certificates carry the
charge point id as subject CN (and the operator as O), as the OCPP security
whitepaper describes them. ``manage.py make_dev_certs`` writes a set to a folder.
Never used by the serving code, which only reads certificate files.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(kind: str = "ec") -> PrivateKey:
    """An ECDSA P-256 key (the default) or an RSA 2048 one."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _pem_key(self.key)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def write(self, folder: Path, name: str, *, chain: Sequence[x509.Certificate] = ()):
        """Write ``<name>.crt`` (with `chain` after it) and ``<name>.key``; their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
        extra = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        cert_path.write_bytes(self.cert_pem + extra)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


class DevCA:
    """A self-signed CA that issues leaves and CRLs."""

    def __init__(self, name: str = "Fleet portal dev CA", *, key_kind: str = "ec"):
        self.key = new_key(key_kind)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        public = self.key.public_key()
        now = _now()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, folder: Path, name: str = "ca") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.pem"
        path.write_bytes(self.cert_pem)
        return path

    def issue(
        self,
        cn: str | Sequence[str] | None,
        *,
        org: str | None = None,
        dns: Iterable[str] = (),
        ips: Iterable[str] = (),
        client: bool = True,
        server: bool = False,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        key: PrivateKey | None = None,
    ) -> Leaf:
        """A leaf for `cn` (several names: several CN attributes; None: no CN).

        A shared `key` makes many certificates quickly (benchmarks); the default is a
        new ECDSA key each time.
        """
        key = key or new_key()
        names = [] if cn is None else [cn] if isinstance(cn, str) else list(cn)
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, name) for name in names]
        if org:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        now = _now()
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        usages += [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - datetime.timedelta(hours=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=is_rsa,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        alt_names = [x509.DNSName(name) for name in dns]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return Leaf(builder.sign(self.key, hashes.SHA256()), key)

    def crl(
        self,
        revoked: Iterable[Leaf | x509.Certificate] = (),
        *,
        next_update: datetime.datetime | None = None,
    ) -> bytes:
        """A PEM CRL listing `revoked`, valid until `next_update` (a week by default)."""
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - datetime.timedelta(minutes=5))
            .next_update(next_update or now + datetime.timedelta(days=7))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        )
        for item in revoked:
            cert = item.cert if isinstance(item, Leaf) else item
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(now - datetime.timedelta(minutes=1))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def server_leaf(ca: DevCA, hosts: Iterable[str], *, key_kind: str = "ec") -> Leaf:
    """A gateway certificate for `hosts` (names and IP addresses) signed by `ca`."""
    dns, ips = [], []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            dns.append(host)
        else:
            ips.append(host)
    return ca.issue(
        dns[0] if dns else ips[0],
        dns=dns,
        ips=ips,
        client=False,
        server=True,
        key=new_key(key_kind),
    )
