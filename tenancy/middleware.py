"""A page that says what is wrong when Redis (the task queue) is away, not an error page."""

from __future__ import annotations

import logging

import kombu.exceptions
import redis
from django.shortcuts import render

log = logging.getLogger(__name__)

# Redis refusing or timing out, directly or through Celery's publisher (kombu).
UNAVAILABLE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


class ServiceUnavailableMiddleware:
    """Turns a Redis/kombu connection error nobody handled into a translated 503.

    Views that need Redis decide first where they can (a restart is refused before
    anything is written); this catches whatever slips through, so a user sees "try
    again in a minute" instead of a server error, and HTMX gets a fragment it swaps in.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, UNAVAILABLE_ERRORS):
            return None
        log.warning("%s %s: Redis unavailable: %s", request.method, request.path, exception)
        htmx = getattr(request, "htmx", False)
        template = "unavailable.html#message" if htmx else "unavailable.html"
        response = render(request, template, status=503)
        response["Retry-After"] = "30"
        return response
