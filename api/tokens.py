"""Signed, short-lived API tokens (JWT, HS256 through PyJWT) that die with their user.

A pair is an access token (sent as `Authorization: Bearer …` on every call) and a
refresh token (sent the same way to `users/refresh-token` for a new pair). Both
carry a keyed hash of the user's password hash, so changing the password makes
every token issued before it invalid, and a deactivated user's tokens are refused
because the user no longer authenticates.

Refresh tokens rotate (api/models.py): each sign-in is a family, each refresh token
a row used at most once. Refreshing retires the token and answers a new pair in the
same family; a retired token presented again revokes the whole family, its access
tokens at once (they carry the family, ``fam``, and every call checks it in the one
query that loads the user). A family ends API_REFRESH_FAMILY_TTL after its sign-in.
No grace window for two refreshes racing with one token: the loser revokes the family
and its client signs in again, the safe side of a stolen token.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.crypto import constant_time_compare, salted_hmac

from api.models import RefreshToken, TokenFamily
from tenancy import audit

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class RefreshGrant:
    """A refresh token whose signature, user and password binding are good; not yet used."""

    user: object
    jti: str
    family_id: str | None  # None: issued before rotation (no ``fam`` claim)
    issued_at: int
    expires_at: int


class RefreshRefused(Exception):
    """The refresh token is known but no longer good (its family ended or was revoked)."""


class RefreshReused(RefreshRefused):
    """A retired refresh token was presented again: its family is now revoked."""


def _signing_key() -> bytes:
    # A key of its own, derived from SECRET_KEY: 32 bytes whatever SECRET_KEY's length.
    return salted_hmac("api.tokens.signing-key", "jwt", algorithm="sha256").digest()


def _password_binding(user) -> str:
    """Changes whenever the user's password (hash) changes; reveals nothing of it."""
    return salted_hmac("api.tokens.password", user.password, algorithm="sha256").hexdigest()[:32]


def _encode(user, kind: str, now: float, expires: int, family: TokenFamily, jti: str) -> str:
    claims = {
        "iss": ISSUER,
        "sub": str(user.pk),
        "typ": kind,
        "iat": int(now),
        "exp": expires,
        "jti": jti,
        "pwd": _password_binding(user),
        "fam": str(family.pk),
    }
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM)


def _when(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)


def issue_pair(
    user, *, ip: str | None = None, now: float | None = None, family: TokenFamily | None = None
) -> TokenPair:
    """A new pair: in a new family (a sign-in) unless `family` is given (a refresh)."""
    now = time.time() if now is None else now
    if family is None:
        family = TokenFamily.objects.create(
            user=user,
            created_ip=ip,
            expires_at=_when(now + settings.API_REFRESH_FAMILY_TTL),
        )
    access_expires = int(now) + settings.API_TOKEN_TTL
    refresh_expires = min(
        int(now) + settings.API_REFRESH_TOKEN_TTL, int(family.expires_at.timestamp())
    )
    refresh_jti = uuid.uuid4().hex
    RefreshToken.objects.create(
        jti=refresh_jti,
        family=family,
        issued_at=_when(now),
        expires_at=_when(refresh_expires),
    )
    return TokenPair(
        token=_encode(user, ACCESS, now, access_expires, family, uuid.uuid4().hex),
        refresh_token=_encode(user, REFRESH, now, refresh_expires, family, refresh_jti),
        ttl=access_expires * 1000,
        refresh_token_ttl=refresh_expires * 1000,
    )


def _claims(token: str, kind: str) -> dict | None:
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "typ", "pwd", "iss", "jti"]},
        )
    except jwt.PyJWTError:
        return None
    return claims if claims["typ"] == kind else None


def _good_user(user, claims) -> bool:
    return bool(
        user is not None
        and user.is_active
        and constant_time_compare(str(claims["pwd"]), _password_binding(user))
    )


def _user(claims):
    try:
        return get_user_model().objects.filter(pk=int(claims["sub"])).first()
    except (ValueError, TypeError):
        return None


def user_for_token(token: str, kind: str = ACCESS):
    """The active user a valid, unexpired access token belongs to, else None.

    A token of a family loads the user through its family (one query): a revoked
    family's access tokens stop working at once.
    """
    claims = _claims(token, kind)
    if claims is None:
        return None
    family_id = claims.get("fam")
    if family_id is None:  # issued before rotation: lives out its few minutes
        user = _user(claims)
    else:
        try:
            family = (
                TokenFamily.objects.select_related("user")
                .filter(pk=family_id, revoked_at=None, user_id=int(claims["sub"]))
                .first()
            )
        except (ValueError, TypeError, ValidationError):
            family = None
        user = family.user if family is not None else None
    return user if _good_user(user, claims) else None


def refresh_grant(token: str) -> RefreshGrant | None:
    """A refresh token that may be exchanged (checked further by `rotate`), else None."""
    claims = _claims(token, REFRESH)
    if claims is None:
        return None
    user = _user(claims)
    if not _good_user(user, claims):
        return None
    return RefreshGrant(
        user=user,
        jti=str(claims["jti"]),
        family_id=claims.get("fam"),
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
    )


def rotate(grant: RefreshGrant, *, ip: str | None = None, now: float | None = None) -> TokenPair:
    """Retire the granted refresh token and answer its successor pair.

    Raises RefreshReused (the family is revoked, logged and audited) when the token
    was used before, RefreshRefused when its family ended or was revoked.
    """
    now = time.time() if now is None else now
    stamp = _when(now)
    if grant.family_id is None:
        return _adopt(grant, ip=ip, now=now)
    with transaction.atomic():
        family = TokenFamily.objects.filter(
            pk=grant.family_id, revoked_at=None, expires_at__gt=stamp
        ).first()
        # One table only in this UPDATE: PostgreSQL re-checks `used_at IS NULL` on the row
        # after waiting for a racing refresh's lock, so exactly one of two racers retires it.
        # (A filter across the family join becomes a subquery read before the wait.)
        retired = family is not None and RefreshToken.objects.filter(
            jti=grant.jti, family_id=grant.family_id, used_at=None
        ).update(used_at=stamp, used_ip=ip)
        if retired:
            return issue_pair(grant.user, ip=ip, now=now, family=family)
        used = RefreshToken.objects.filter(
            jti=grant.jti, family_id=grant.family_id, used_at__isnull=False
        ).exists()
    if used:
        _revoke(grant, ip=ip, stamp=stamp)
        raise RefreshReused(grant.family_id)
    raise RefreshRefused(grant.family_id)


def _adopt(grant: RefreshGrant, *, ip: str | None, now: float) -> TokenPair:
    """A refresh token from before rotation: used once, as the start of a new family."""
    stamp = _when(now)
    try:
        with transaction.atomic():
            family = TokenFamily.objects.create(
                user=grant.user,
                created_ip=ip,
                expires_at=_when(now + settings.API_REFRESH_FAMILY_TTL),
            )
            RefreshToken.objects.create(
                jti=grant.jti,
                family=family,
                issued_at=_when(grant.issued_at),
                expires_at=_when(grant.expires_at),
                used_at=stamp,
                used_ip=ip,
            )
            return issue_pair(grant.user, ip=ip, now=now, family=family)
    except IntegrityError:
        # Adopted before (or by a racing request): this is a second use.
        adopted = RefreshToken.objects.filter(jti=grant.jti).values_list("family_id", flat=True)
        family_id = adopted.first()
        if family_id is None:
            raise RefreshRefused(None) from None
        reused = RefreshGrant(
            grant.user, grant.jti, str(family_id), grant.issued_at, grant.expires_at
        )
        _revoke(reused, ip=ip, stamp=stamp)
        raise RefreshReused(str(family_id)) from None


def _revoke(grant: RefreshGrant, *, ip: str | None, stamp: datetime.datetime) -> None:
    with transaction.atomic():
        revoked = TokenFamily.objects.filter(pk=grant.family_id, revoked_at=None).update(
            revoked_at=stamp, revoked_reason=TokenFamily.Revoked.REUSE
        )
        if not revoked:
            return  # revoked before: said once already
        family = TokenFamily.objects.get(pk=grant.family_id)
        audit.record(
            action="api.refresh_token_reused",
            actor=grant.user,
            ip=ip,
            obj=family,
            summary=f"refresh token reused; API sign-in of {family.created_at:%Y-%m-%d %H:%M} "
            "revoked",
        )
    log.warning(
        "api: refresh token reused, family %s of user %s revoked (from %s)",
        grant.family_id,
        grant.user.pk,
        ip or "unknown address",
    )


def prune(*, now: float | None = None) -> tuple[int, int]:
    """Forget refresh tokens expired a day ago and families that ended a week ago."""
    stamp = _when(time.time() if now is None else now)
    tokens, _ = RefreshToken.objects.filter(
        expires_at__lt=stamp - datetime.timedelta(days=1)
    ).delete()
    families, _ = TokenFamily.objects.filter(
        expires_at__lt=stamp - datetime.timedelta(days=7)
    ).delete()
    return tokens, families
