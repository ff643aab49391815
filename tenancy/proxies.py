"""Whose address a request comes from, behind reverse proxies we trust and no others.

One resolver for the web (``TrustedProxyMiddleware``, login lockouts, API rate
limits, the audit trail) and the OCPP gateway (connections per address), driven by
one setting, ``TRUSTED_PROXIES``: IP addresses or networks ("127.0.0.1,::1,
172.30.0.0/24").

- A peer that is not a trusted proxy is the client, whatever ``X-Forwarded-For`` it
  sends: anyone can write that header.
- From a trusted proxy the header is read from the right (each proxy appends the
  address it saw), skipping our own proxies; the first address that is not one of
  them is the client. An entry that is not an address (garbage, ``unknown``)
  stops the walk: the last address we could vouch for is used, never the garbage.
- A trusted proxy sending no header speaks for itself (local tools, health checks).

No Django request here: the gateway passes a peer and header values of its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ClientAddress:
    address: str  # normalised: an IPv4-mapped IPv6 address is written as IPv4
    via_proxy: bool  # the peer is one of our trusted proxies
    forwarded: bool  # the address came from X-Forwarded-For


def parse_address(value: str) -> Address | None:
    """An address from a peer or a header entry ("1.2.3.4:5678" and "[::1]:80" too)."""
    text = value.strip()
    if text.startswith("["):  # [v6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # v4:port (a bare v6 address has more colons)
        text = text.partition(":")[0]
    text = text.partition("%")[0]  # a zone id (fe80::1%eth0) is not part of the address
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalise(value: str) -> str:
    """The address as the rest of the portal writes it; a non-address is kept as given."""
    address = parse_address(value)
    return str(address) if address is not None else value


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str] | TrustedProxies) -> TrustedProxies:
        if isinstance(entries, TrustedProxies):
            return entries
        networks = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ImproperlyConfigured(
                    f"TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from exc
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen <= 96:
                mapped = network.network_address.ipv4_mapped
                if mapped is not None:  # ::ffff:10.0.0.0/104 is 10.0.0.0/8
                    network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
            networks.append(network)
        return cls(tuple(networks))

    def __contains__(self, address: object) -> bool:
        parsed = parse_address(address) if isinstance(address, str) else None
        return parsed is not None and self._trusts(parsed)

    def _trusts(self, address: Address) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)

    def resolve(self, peer: str, forwarded_for: Iterable[str] = ()) -> ClientAddress:
        """The client behind `peer`, given the X-Forwarded-For header values it sent."""
        peer_address = parse_address(peer)
        if peer_address is None or not self._trusts(peer_address):
            return ClientAddress(normalise(peer), via_proxy=False, forwarded=False)
        entries = [item for value in forwarded_for for item in value.split(",")]
        entries = [item.strip() for item in entries if item.strip()]
        if not entries:
            return ClientAddress(str(peer_address), via_proxy=True, forwarded=False)
        vouched: Address = peer_address
        for entry in reversed(entries):
            address = parse_address(entry)
            if address is None:
                break  # what a proxy did not write; stop at what we can vouch for
            vouched = address
            if not self._trusts(address):
                break
        return ClientAddress(str(vouched), via_proxy=True, forwarded=True)


@lru_cache(maxsize=8)
def _from_setting(entries: tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies.parse(entries)


def trusted_proxies() -> TrustedProxies:
    """``settings.TRUSTED_PROXIES``, parsed once per distinct value."""
    return _from_setting(tuple(settings.TRUSTED_PROXIES))


def client_address_of(meta) -> ClientAddress:
    """The client of a WSGI request (its ``META``): REMOTE_ADDR and X-Forwarded-For."""
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    return trusted_proxies().resolve(
        meta.get("REMOTE_ADDR") or "", [forwarded] if forwarded else []
    )


def limit_key(address: str) -> str:
    """What a per-address limit counts: an IPv4 address, or an IPv6 address's /64.

    One IPv6 host is usually given a whole /64; counting single addresses would let it
    rotate through them and escape every limit.
    """
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address
