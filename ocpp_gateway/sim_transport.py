"""How a simulated charger reaches the gateway: ws:// or wss://, with or without its own
certificate (security profiles 1-3). ``simulator.py`` re-exports ``client_ssl_context``."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_ssl_context(
    ca_file: str | Path | None, cert: str | Path | None = None, key: str | Path | None = None
) -> ssl.SSLContext:
    """A charger's TLS: trust the gateway's CA (`ca_file`; None: the system's), and with
    `cert` and `key` present a client certificate (security profile 3)."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if cert:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


def check_transport(url: str, profile: int, ssl_context) -> None:
    secure = url.startswith("wss://")
    if profile not in (1, 2, 3):
        raise ValueError(f"security profile {profile!r}: 1, 2 or 3")
    if profile >= 2 and not secure:
        raise ValueError(f"security profile {profile} needs a wss:// URL, not {url}")
    if secure and ssl_context is None:
        raise ValueError("a wss:// URL needs an SSL context (client_ssl_context)")
    if not secure and ssl_context is not None:
        raise ValueError("an SSL context needs a wss:// URL")
