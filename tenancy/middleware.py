"""Request middleware of the ground floor.

- ``TrustedProxyMiddleware``: who the client is behind our reverse proxy.
- ``ServiceUnavailableMiddleware``: a page that says what is wrong when Redis (the
  task queue) is away, not an error page.
"""

from __future__ import annotations

import logging

import kombu.exceptions
import redis
from django.shortcuts import render

from tenancy.proxies import client_address_of

log = logging.getLogger(__name__)

# Redis refusing or timing out, directly or through Celery's publisher (kombu).
UNAVAILABLE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


# What only a proxy of ours may tell us; from anyone else these headers are dropped.
PROXY_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_FORWARDED",
    "HTTP_X_CLIENT_CERT",
)


class TrustedProxyMiddleware:
    """Sets ``request.client_address`` (``tenancy.proxies.ClientAddress``); first in MIDDLEWARE.

    From a peer that is not in ``TRUSTED_PROXIES`` the forwarding headers are removed
    before anything reads them, so nobody can name another client address or claim
    HTTPS through ``SECURE_PROXY_SSL_HEADER`` by sending them. Login lockouts (axes),
    API rate limits and the audit trail all read the address through
    ``tenancy.audit.client_ip``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client_address = client = client_address_of(request.META)
        if not client.via_proxy:
            for header in PROXY_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


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
