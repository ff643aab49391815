"""Real certificates for the gateway's TLS tests, made on the fly by ocpp_gateway.devpki."""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from ocpp_gateway.devpki import DevCA, Leaf, server_leaf
from ocpp_gateway.tls import TlsConfig

HOSTS = ["localhost", "127.0.0.1"]


@dataclass
class Pki:
    folder: Path
    ca: DevCA
    other_ca: DevCA
    ca_file: Path
    crl_file: Path
    server_ec: tuple[Path, Path]
    server_rsa: tuple[Path, Path]

    def config(self, *, client_ca=True, crl=False, rsa=False, **overrides) -> TlsConfig:
        chains = (self.server_ec, self.server_rsa) if rsa else (self.server_ec,)
        config = TlsConfig(
            chains=chains,
            client_ca=self.ca_file if client_ca else None,
            client_crl=self.crl_file if crl else None,
            reload_interval=0.2,
            summary_interval=0.5,
        )
        return replace(config, **overrides)

    def charger(self, cp_id, *, ca=None, org=None, expired=False, **kwargs) -> tuple[Path, Path]:
        """A client certificate for `cp_id` written to files: (certificate, key)."""
        ca = ca or self.ca
        if expired:
            past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
            kwargs.update(not_before=past, not_after=past + datetime.timedelta(days=1))
        leaf = ca.issue(cp_id, org=org, **kwargs)
        return self.write(leaf, f"{id(leaf)}")

    def write(self, leaf: Leaf, name: str) -> tuple[Path, Path]:
        return leaf.write(self.folder / "leaves", name)

    def client_context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if cert:
            ctx.load_cert_chain(*cert)
        return ctx


def make_pki(folder: Path) -> Pki:
    ca, other = DevCA("Test charger and gateway CA"), DevCA("Another CA")
    ca_file = ca.write(folder)
    crl_file = folder / "crl.pem"
    crl_file.write_bytes(ca.crl())
    return Pki(
        folder=folder,
        ca=ca,
        other_ca=other,
        ca_file=ca_file,
        crl_file=crl_file,
        server_ec=server_leaf(ca, HOSTS).write(folder, "server-ec"),
        server_rsa=server_leaf(ca, HOSTS, key_kind="rsa").write(folder, "server-rsa"),
    )


def wss_url(gateway, charge_point_id: str = "") -> str:
    base = f"wss://localhost:{gateway.port}/ocpp"
    return f"{base}/{charge_point_id}" if charge_point_id else base
