"""Signed, short-lived API tokens (JWT, HS256 through PyJWT) that die with their user.

A pair is an access token (sent as `Authorization: Bearer …` on every call) and a
refresh token (sent the same way to `users/refresh-token` for a new pair). Both
carry a keyed hash of the user's password hash, so changing the password makes
every token issued before it invalid, and a deactivated user's tokens are refused
because the user no longer authenticates. Nothing is stored server-side.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.crypto import constant_time_compare, salted_hmac

ACCESS = "access"
REFRESH = "refresh"
ISSUER = "fleet-portal"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    token: str
    refresh_token: str
    # Expiry times in epoch milliseconds, as the Wallbox API gives them.
    ttl: int
    refresh_token_ttl: int


def _signing_key() -> bytes:
    # A key of its own, derived from SECRET_KEY: 32 bytes whatever SECRET_KEY's length.
    return salted_hmac("api.tokens.signing-key", "jwt", algorithm="sha256").digest()


def _password_binding(user) -> str:
    """Changes whenever the user's password (hash) changes; reveals nothing of it."""
    return salted_hmac("api.tokens.password", user.password, algorithm="sha256").hexdigest()[:32]


def _encode(user, kind: str, now: float, lifetime: int) -> tuple[str, int]:
    expires = int(now) + lifetime
    claims = {
        "iss": ISSUER,
        "sub": str(user.pk),
        "typ": kind,
        "iat": int(now),
        "exp": expires,
        "jti": uuid.uuid4().hex,
        "pwd": _password_binding(user),
    }
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM), expires * 1000


def issue_pair(user, *, now: float | None = None) -> TokenPair:
    now = time.time() if now is None else now
    token, ttl = _encode(user, ACCESS, now, settings.API_TOKEN_TTL)
    refresh, refresh_ttl = _encode(user, REFRESH, now, settings.API_REFRESH_TOKEN_TTL)
    return TokenPair(token=token, refresh_token=refresh, ttl=ttl, refresh_token_ttl=refresh_ttl)


def user_for_token(token: str, kind: str):
    """The active user a valid, unexpired token of `kind` belongs to, else None."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "typ", "pwd", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    if claims["typ"] != kind:
        return None
    try:
        user = get_user_model().objects.get(pk=int(claims["sub"]))
    except (get_user_model().DoesNotExist, ValueError, TypeError):
        return None
    if not user.is_active:
        return None
    if not constant_time_compare(str(claims["pwd"]), _password_binding(user)):
        return None
    return user
