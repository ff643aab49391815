"""API errors: a JSON body {"detail", "code"} in the caller's language, never a traceback."""

from __future__ import annotations

import logging
import math

from django.http import Http404
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

log = logging.getLogger(__name__)


class ApiError(HttpError):
    """An HttpError with a stable machine-readable `code` beside the human message."""

    def __init__(
        self, status_code: int, code: str, message: str, *, headers: dict | None = None, **extra
    ) -> None:
        super().__init__(status_code, message)
        self.code = code
        self.headers = headers or {}
        self.extra = extra


# How a refused restart (restarts.services.RestartRefused) is answered: the charger is
# not yours (404, as if it did not exist), you may not restart (403), it cannot be
# restarted now (409: disconnected, already restarting), or never in this way (422).
REFUSAL_STATUS = {
    "not_found": 404,
    "not_allowed": 403,
    "not_connected": 409,
    "restarting": 409,
    "planned": 409,
    "nothing_eligible": 409,
    "no_remote_restart": 422,
    "no_business": 422,
    "empty": 422,
    "bad_mode": 422,
    # not_before without an offset, in the past or more than 30 days ahead.
    "bad_plan": 422,
    # The task queue (Redis) is away: nothing was written; try again shortly.
    "unavailable": 503,
}


def refusal(exc, **extra) -> ApiError:
    """An ApiError for a restarts.services.RestartRefused."""
    return ApiError(REFUSAL_STATUS.get(exc.code, 409), exc.code, exc.message, **extra)


def install(api) -> None:
    def respond(request, status, code, detail, **extra):
        return api.create_response(
            request, {"detail": detail, "code": code, **extra}, status=status
        )

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        response = respond(
            request,
            401,
            "not_authenticated",
            _("Sign in first: send a valid Bearer token (or use the portal's session)."),
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    @api.exception_handler(Throttled)
    def throttled(request, exc):
        response = respond(
            request, 429, "rate_limited", _("Too many requests: slow down and try again later.")
        )
        if exc.wait is not None:
            response["Retry-After"] = str(math.ceil(exc.wait))
        return response

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return respond(request, 404, "not_found", _("Not found."))

    @api.exception_handler(ValidationError)
    def invalid(request, exc):
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors]
        return respond(request, 422, "invalid", _("The request is not valid."), errors=errors)

    @api.exception_handler(ApiError)
    def api_error(request, exc):
        response = respond(request, exc.status_code, exc.code, exc.message, **exc.extra)
        for name, value in exc.headers.items():
            response[name] = value
        return response

    @api.exception_handler(HttpError)
    def http_error(request, exc):
        if exc.status_code == 400:
            return respond(request, 400, "bad_request", _("The request could not be read."))
        return respond(request, exc.status_code, "error", str(exc))

    @api.exception_handler(Exception)
    def unexpected(request, exc):
        log.exception("API call failed: %s %s", request.method, request.path)
        return respond(request, 500, "server_error", _("Something went wrong on our side."))
