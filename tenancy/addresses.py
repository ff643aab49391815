"""Address allow-lists (e.g. who may read /metrics), for the web and the gateway alike.

`allowed(addresses, networks)` holds only when EVERY address given lies in the networks:
callers pass the socket peer and every X-Forwarded-For entry (and, on the web, the
client address the portal settled on), so a request relayed by the public proxy (which
appends the real client) is refused, and a forged header cannot help an outside peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    """'127.0.0.1', '10.0.0.0/8', '::1' … as networks; a bad entry raises ValueError."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def forwarded_entries(headers: Iterable[str]) -> list[str]:
    """Every address in the X-Forwarded-For header(s), in order."""
    return [item.strip() for header in headers for item in header.split(",") if item.strip()]


def allowed(addresses: Iterable[str | None], nets: Iterable[Network]) -> bool:
    nets = tuple(nets)
    if not nets:
        return False
    seen = False
    for raw in addresses:
        try:
            address = ipaddress.ip_address((raw or "").strip().removeprefix("::ffff:"))
        except ValueError:
            return False  # unreadable (or missing) address: not on any list
        if not any(address in net for net in nets):
            return False
        seen = True
    return seen
