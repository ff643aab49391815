"""The gateway's Prometheus metrics, served at ``GET /metrics`` beside ``/healthz``.

Each ``Gateway`` has its own ``CollectorRegistry`` (never the library's global one):
counters and the call-latency histogram are counted where things happen; the gauges
(connected chargers, calls in flight, boots pending, command queue depth) are read from
the gateway's own state when scraped, so they cannot drift from the truth.

Label values are bounded: an action outside the OCPP 1.6 and 2.0.1 action lists is
counted as ``other`` (a charger inventing names cannot create new series), outcomes are
the command channel's, refusal reasons a fixed set.

Who may read it: ``METRICS_ALLOWED_IPS`` (tenancy/addresses.py): the socket peer and
every X-Forwarded-For entry must be on the list; anything else gets the 404 of a path
that does not exist.
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
import time
from collections import Counter as Tally
from urllib.parse import urlsplit

from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from ocpp_gateway import channel, registry
from tenancy import addresses

logger = logging.getLogger("ocpp_gateway")

ACTIONS = frozenset(a.value for a in Action16) | frozenset(a.value for a in Action201)
OTHER = "other"
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Handshake refusals by the HTTP status the checks answered with.
REFUSAL_REASONS = {
    400: "bad_request",  # no OCPP subprotocol offered
    401: "unauthorized",  # missing or wrong charger password
    403: "forbidden",
    404: "not_found",  # not /ocpp/<id>, or an id the database does not know
    429: "too_many_from_address",
    503: "unavailable",  # stopping, or the database could not be asked
}
QUEUE_DEPTH_TIMEOUT = 0.5

if os.getenv("PROMETHEUS_MULTIPROC_DIR"):
    logger.warning(
        "PROMETHEUS_MULTIPROC_DIR is set for the gateway: it is meant for the gunicorn web "
        "only; unset it here (the gateway serves its own registry)"
    )


def action_label(action) -> str:
    return action if isinstance(action, str) and action in ACTIONS else OTHER


class GatewayMetrics:
    """One gateway's metrics; ``gateway`` is read at scrape time (connections, tasks)."""

    def __init__(self, gateway, allowed_ips=()):
        self.gateway = gateway
        self.networks = addresses.networks(allowed_ips)
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "ocpp_gateway_messages",
            "OCPP messages in and out, by action and message type.",
            ["direction", "action", "type"],
            registry=self.registry,
        )
        self.call_duration = Histogram(
            "ocpp_gateway_call_duration_seconds",
            "Our calls to chargers: frame written to answer, timeout or close.",
            ["action", "outcome"],
            buckets=CALL_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "ocpp_gateway_handshakes_refused",
            "Websocket handshakes refused before the upgrade, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.queue_depth = 0
        self.registry.register(_StateCollector(self))

    # -- counting ---------------------------------------------------------------------
    def message(self, direction: str, action, kind: str) -> None:
        self.messages.labels(direction, action_label(action), kind).inc()

    def call_done(self, action: str, result: channel.CallResult) -> None:
        """A call we sent has its answer (or ran out of time): how long it took."""
        if result.sent_at is None:
            return  # never written to the socket: no latency to speak of
        end = result.answered_at or time.time()
        self.call_duration.labels(action_label(action), result.outcome).observe(
            max(0.0, end - result.sent_at)
        )

    def handshake_refused(self, status: int) -> None:
        self.refused.labels(REFUSAL_REASONS.get(int(status), f"http_{int(status)}")).inc()

    # -- serving ----------------------------------------------------------------------
    def wrap(self, process_request):
        """The handshake's ``process_request`` with ``/metrics`` in front of it and its
        refusals counted (the checks themselves stay in handshake.py)."""

        async def process(connection, request):
            path = urlsplit(request.path).path
            if path == "/metrics":
                return await self.respond(connection, request)
            response = await process_request(connection, request)
            if response is not None and response.status_code >= 400 and path != "/healthz":
                self.handshake_refused(response.status_code)
            return response

        return process

    async def respond(self, connection, request):
        peer = connection.remote_address[0] if connection.remote_address else None
        forwarded = addresses.forwarded_entries(request.headers.get_all("X-Forwarded-For"))
        if not addresses.allowed([peer, *forwarded], self.networks):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found\n")
        await self.refresh()
        response = connection.respond(
            http.HTTPStatus.OK, generate_latest(self.registry).decode("utf-8")
        )
        del response.headers["Content-Type"]  # websockets' Headers append on assignment
        # The classic text format every Prometheus (2.x and 3.x) reads.
        response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
        return response

    async def refresh(self) -> None:
        """What needs a round trip: the requests waiting in this gateway's Redis list."""
        redis = getattr(self.gateway, "redis", None)
        if redis is None:
            return
        try:
            async with asyncio.timeout(QUEUE_DEPTH_TIMEOUT):
                key = registry.requests_key(self.gateway.gateway_id)
                self.queue_depth = int(await redis.llen(key))
        except Exception:
            logger.warning("metrics: could not read the command queue depth")


class _StateCollector:
    """Gauges read from the gateway at scrape time."""

    def __init__(self, metrics: GatewayMetrics):
        self.metrics = metrics

    def describe(self):
        return []

    def collect(self):
        gateway = self.metrics.gateway
        conns = list(gateway.connections.values())
        connected = GaugeMetricFamily(
            "ocpp_gateway_connected_chargers",
            "Chargers with an open socket on this gateway, by OCPP version.",
            labels=["ocpp_version"],
        )
        versions = Tally(conn.ocpp_version for conn in conns)
        for version in ("1.6", "2.0.1"):
            connected.add_metric([version], versions.get(version, 0))
        yield connected
        yield GaugeMetricFamily(
            "ocpp_gateway_boots_pending",
            "Open sockets whose charger has not sent a BootNotification on them yet.",
            value=sum(1 for conn in conns if not getattr(conn, "boot_seen", True)),
        )
        yield GaugeMetricFamily(
            "ocpp_gateway_calls_in_flight",
            "Our calls written to chargers' sockets and not answered yet.",
            value=sum(len(getattr(conn, "_pending", ())) for conn in conns),
        )
        yield GaugeMetricFamily(
            "ocpp_gateway_command_queue_depth",
            "Requests from workers waiting in this gateway's Redis list.",
            value=self.metrics.queue_depth,
        )
