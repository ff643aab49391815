"""The web's /metrics: request latency by view, restart jobs by state, task queues.

- ``RequestMetricsMiddleware`` (first in MIDDLEWARE) observes every request into
  ``portal_http_request_duration_seconds{view, method, status}``: the URL pattern's
  name, never the raw path (no label explosion from ids or scanners).
- ``metrics_view`` answers only addresses in ``METRICS_ALLOWED_IPS`` (the socket peer,
  the client address and every X-Forwarded-For entry must be on it: tenancy/addresses.py),
  everyone else gets the 404 of a page that does not exist. No login: Prometheus has none.
- Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (see config/gunicorn.conf.py): each
  worker writes its samples there and a scrape adds them up, whichever worker answers.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from prometheus_client import CollectorRegistry, Histogram, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from restarts.metrics import RestartJobsCollector
from tenancy import addresses
from tenancy.audit import client_ip

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Not in any registry of its own: a scrape registers it into a fresh one (one process),
# or reads every worker's samples from PROMETHEUS_MULTIPROC_DIR (gunicorn).
REQUEST_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time the portal took to answer a request, by view, method and status class.",
    ["view", "method", "status"],
    buckets=BUCKETS,
    registry=None,
)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "unmatched"
        method = request.method if request.method in METHODS else "other"
        REQUEST_DURATION.labels(view, method, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response


def _allowed(request) -> bool:
    nets = addresses.networks(settings.METRICS_ALLOWED_IPS)
    forwarded = addresses.forwarded_entries([request.META.get("HTTP_X_FORWARDED_FOR", "")])
    return addresses.allowed(
        [request.META.get("REMOTE_ADDR"), client_ip(request), *forwarded], nets
    )


@login_not_required
def metrics_view(request):
    if not _allowed(request):
        raise Http404  # as for a page that does not exist, whatever the method
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    registry = CollectorRegistry(auto_describe=True)
    if os.getenv("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_DURATION)
    registry.register(RestartJobsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
