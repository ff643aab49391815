"""Who is calling: a Bearer token (no CSRF, the token is the proof) or the browser
session (CSRF-checked on unsafe methods, exactly as Django checks a form post)."""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from api import tokens
from api.errors import ApiError

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class BearerToken(HttpBearer):
    """An access token from `users/signin` or `users/refresh-token`."""

    def authenticate(self, request, token):
        return tokens.user_for_token(token, tokens.ACCESS)


class RefreshToken(HttpBearer):
    """A refresh token: accepted only by `users/refresh-token`, which rotates it.

    ``request.auth`` is a ``tokens.RefreshGrant``; whether it was used before is the
    view's question (``tokens.rotate``).
    """

    def authenticate(self, request, token):
        return tokens.refresh_grant(token)


class Session(APIKeyCookie):
    """The portal's own login session, for calls from the browser."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        # csrf=True tells the docs page to send the CSRF token; the check itself is
        # done in authenticate(), once the session has named a user, so a caller
        # with no credentials at all gets 401 rather than a CSRF complaint.
        super().__init__(csrf=True)

    def _get_key(self, request):
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request, key):
        user = request.user
        if not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request):
            raise ApiError(403, "csrf_failed", _("CSRF check failed: send the X-CSRFToken header."))
        return user


def basic_credentials(request) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic …` header, else None."""
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or "\x00" in decoded:
        return None
    return username, password


def user_for_basic(request):
    """The active user named by HTTP Basic credentials, through Django's backends, so
    django-axes counts failures and refuses a locked-out (username, address) pair."""
    creds = basic_credentials(request)
    if creds is None:
        return None
    try:
        user = authenticate(request, username=creds[0], password=creds[1])
    except PermissionDenied:
        user, locked = None, True
    else:
        # The failure that reaches the limit locks out at once.
        locked = bool(getattr(request, "axes_locked_out", False))
    if locked:
        # Answer in JSON here; django-axes' middleware would answer the login page's HTML.
        request.axes_locked_out = False
        minutes = max(round(settings.AXES_COOLOFF_TIME * 60), 1)
        raise ApiError(
            429,
            "locked_out",
            _("Too many failed sign-ins: try again in %(minutes)s minutes.") % {"minutes": minutes},
            headers={"Retry-After": str(minutes * 60)},
        )
    return user if user is not None and user.is_active else None
