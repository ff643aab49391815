"""The Redis layout shared by the gateway and the command client (the messages: channel.py).

- ``ocpp:routes`` (hash): charge point id -> JSON ``{"gw", "token", "ocpp"}``, the gateway
  process that holds the charger's socket, the socket's connection token and the
  negotiated OCPP version. A gateway writes the field when a socket opens and removes
  it (only if it still holds that token) when the socket closes.
- ``ocpp:gateway:<id>:alive`` (JSON with a TTL, ``liveness_value``): refreshed every
  second by a running gateway's liveness thread (``liveness.py``), expiring after
  ``OCPP_GATEWAY_GONE_AFTER`` (60 s). Its age (``ttl`` minus Redis's PTTL) says whether
  the gateway is alive (younger than ``OCPP_ALIVE_GRACE``), late, or gone (no key): a
  route to a gone gateway is stale, that process is dead.
- ``ocpp:gateway:<id>:requests`` (list): requests for that gateway, JSON, FIFO.
- ``ocpp:reply:<id>`` (list): the gateway pushes the replies here, each naming its request.
- ``ocpp:pushed:<batch>`` (string with a TTL): ``pushed``, written in the same MULTI as
  a named batch's requests (only while absent: WATCH), or ``fenced``, written by the
  deadline sweep for a batch whose sender died: then it was never pushed and never will
  be. Redis must not evict keys (``maxmemory-policy noeviction``, as Celery needs too).
- ``ocpp:auth:fail:addr:<address>``, ``ocpp:auth:fail:cp:<id>`` (counters with a TTL):
  failed charger logins in the current window; ``ocpp:auth:good:<id>`` (set with a
  TTL): the addresses that charger once connected from with the right password.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ROUTES = "ocpp:routes"
TRANSACTION_SEQ = "ocpp:transaction-seq"
# The TTL of liveness keys written before they carried one in their value.
LEGACY_ALIVE_TTL = 10
# Replies nobody collects are dropped by Redis after this long.
REPLY_TTL = 120
# How long the proof that a named batch was pushed is kept (far past any call deadline).
PUSHED_TTL = 86400

# Remove a route only when it is still the one we wrote (a newer socket may own it now).
DELETE_ROUTE_IF_OWNED = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def alive_key(gateway_id: str) -> str:
    return f"ocpp:gateway:{gateway_id}:alive"


def liveness_value(*, life: str, ttl: int, **facts) -> str:
    """What a gateway writes in its liveness key: its life (one per process), the key's
    TTL (so readers can tell its age from PTTL) and facts about its load."""
    return json.dumps({"v": 1, "life": life, "ttl": ttl, **facts}, separators=(",", ":"))


def parse_liveness(raw: str | bytes | None) -> dict | None:
    """The liveness value as a dict (``ttl`` always set); None for no key."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        data = None
    if not isinstance(data, dict):
        return {"life": "", "ttl": LEGACY_ALIVE_TTL}  # a gateway of the previous version
    ttl = data.get("ttl")
    data["ttl"] = ttl if isinstance(ttl, int | float) and ttl > 0 else LEGACY_ALIVE_TTL
    return data


def requests_key(gateway_id: str) -> str:
    return f"ocpp:gateway:{gateway_id}:requests"


def reply_key(request_id: str) -> str:
    return f"ocpp:reply:{request_id}"


def pushed_key(batch: str) -> str:
    return f"ocpp:pushed:{batch}"


def auth_failures_key(kind: str, value: str) -> str:
    return f"ocpp:auth:fail:{kind}:{value}"


def auth_good_key(charge_point_id: str) -> str:
    return f"ocpp:auth:good:{charge_point_id}"


@dataclass(frozen=True)
class Route:
    gateway_id: str
    token: str
    ocpp_version: str

    def encode(self) -> str:
        return json.dumps(
            {"gw": self.gateway_id, "token": self.token, "ocpp": self.ocpp_version},
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def decode(cls, raw: str | bytes | None) -> Route | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(str(data["gw"]), str(data["token"]), str(data["ocpp"]))
        except (ValueError, KeyError, TypeError):
            return None
