"""Rate limits for the API: fixed one-minute windows counted in Redis (REDIS_URL).

Two limits apply to every call: one per client address and one per signed-in
user (all of a user's tokens and sessions share it). Signing in has a stricter
per-address limit of its own, to slow password guessing. A call over a limit is
answered 429 with `Retry-After` (seconds until the window ends).

We count with INCR + EXPIRE in one round trip, atomic across web processes. The
address is the resolved client (`tenancy.audit.client_ip`: X-Forwarded-For only
from TRUSTED_PROXIES), an IPv6 client counted per /64 (`tenancy.proxies.limit_key`).
Every throttle here overrides `ident()`: ninja's own `get_ident` would trust a
client-supplied X-Forwarded-For. If Redis is unreachable the limit is not enforced
and a warning is logged: an outage of the limiter must not take the API down with it.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache

import redis
from django.conf import settings
from ninja.throttling import BaseThrottle

from tenancy.audit import client_ip
from tenancy.proxies import limit_key

log = logging.getLogger(__name__)

WINDOW = 60  # seconds
KEY_PREFIX = "api:rate"


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def hit(key: str, *, now: float | None = None) -> tuple[int, int]:
    """Count one call against `key`; return (calls in this window, seconds left in it)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    redis_key = f"{KEY_PREFIX}:{key}:{window}"
    pipe = _client(settings.REDIS_URL).pipeline(transaction=True)
    pipe.incr(redis_key)
    pipe.expire(redis_key, WINDOW + 1)
    count, _ = pipe.execute()
    return int(count), max(1, int((window + 1) * WINDOW - now + 0.999))


class RedisThrottle(BaseThrottle):
    """Allow `settings.<setting>` calls a minute per identity (`ident(request)`)."""

    scope = "base"
    setting = ""

    def __init__(self) -> None:
        self._local = threading.local()  # one throttle object serves every thread

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request) -> bool:
        self._local.wait = None
        ident = self.ident(request)
        limit = getattr(settings, self.setting)
        if ident is None or not limit:
            return True
        try:
            count, left = hit(f"{self.scope}:{ident}")
        except redis.RedisError as exc:
            log.warning("API rate limit not enforced, Redis unreachable: %s", exc)
            return True
        if count > limit:
            self._local.wait = left
            return False
        return True

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)


class AddressThrottle(RedisThrottle):
    scope = "ip"
    setting = "API_RATE_LIMIT_PER_ADDRESS"

    def ident(self, request) -> str | None:
        address = client_ip(request)
        return limit_key(address) if address else None


class UserThrottle(RedisThrottle):
    scope = "user"
    setting = "API_RATE_LIMIT_PER_USER"

    def ident(self, request) -> str | None:
        user = getattr(request, "auth", None)
        return str(user.pk) if getattr(user, "pk", None) else None


class SigninThrottle(AddressThrottle):
    scope = "signin"
    setting = "API_RATE_LIMIT_SIGNIN_PER_ADDRESS"
