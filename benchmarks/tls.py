"""Certificates for the TLS benchmark (ocpp_gateway.devpki): a CA, the server's chain,
and one client certificate per charger, all from one shared key, so a thousand take
about a second. Loaded before Django (no models here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ocpp_gateway.devpki import DevCA, new_key, server_leaf


@dataclass(frozen=True)
class BenchPki:
    folder: Path
    ca: Path
    server_cert: Path
    server_key: Path

    @property
    def gateway_args(self) -> list[str]:
        return [
            "--tls-cert", str(self.server_cert),
            "--tls-key", str(self.server_key),
            "--client-ca", str(self.ca),
        ]  # fmt: skip


def make_pki(folder: Path, charge_point_ids: list[str]) -> BenchPki:
    ca = DevCA("Benchmark CA")
    ca_path = ca.write(folder)
    cert, key = server_leaf(ca, ["localhost", "127.0.0.1"]).write(folder, "server")
    shared = new_key()
    for cp_id in charge_point_ids:
        ca.issue(cp_id, key=shared).write(folder, cp_id)
    return BenchPki(folder, ca_path, cert, key)
