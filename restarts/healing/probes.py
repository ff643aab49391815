"""Probing chargers and reading their fault state, for the sweep and the ladder."""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery

from chargers.models import Charger, ChargerEvent
from ocpp_gateway import channel, commands
from restarts import queue

log = logging.getLogger(__name__)

ANSWERED = "restarts:healing:answered"  # charger pk -> epoch of its last answered probe
Kind = ChargerEvent.Kind


def with_fault(chargers: QuerySet) -> QuerySet:
    """Annotate `fault_kind`/`fault_since`: the charger's latest fault, recovery or connect.

    `Faulted` on any connector of the current connection shows as fault_kind = faulted
    (a new connection starts without a fault until the charger reports one).
    """
    latest = ChargerEvent.objects.filter(
        charger=OuterRef("pk"), kind__in=[Kind.FAULTED, Kind.RECOVERED, Kind.CONNECTED]
    ).order_by("-at", "-pk")
    return chargers.annotate(
        fault_kind=Subquery(latest.values("kind")[:1]),
        fault_since=Subquery(latest.values("at")[:1]),
    )


def redis_client():
    return queue.redis_client(settings.REDIS_URL)


def probe(chargers: list[Charger], message: str) -> dict[int, str]:
    """TriggerMessage(`message`) to each charger at once: {pk: answered|no_answer|not_connected}.

    Any answer (Accepted, Rejected, NotImplemented, even a CallError) shows the charger
    is listening. Only a call that was written and then left without an answer is a
    miss; a call that could not be sent says nothing about the charger.
    """
    if not chargers:
        return {}
    results = commands.send_calls(
        [(c.charge_point_id, "TriggerMessage", {"requestedMessage": message}) for c in chargers],
        timeout=settings.HEALING_PROBE_TIMEOUT,
    )
    verdicts: dict[int, str] = {}
    answered_now: dict[int, float] = {}
    for charger, result in zip(chargers, results, strict=True):
        if result.outcome in (channel.ANSWERED, channel.CALL_ERROR):
            verdicts[charger.pk] = "answered"
            answered_now[charger.pk] = time.time()
        elif result.outcome == channel.TIMEOUT and result.sent_at:
            verdicts[charger.pk] = "no_answer"
        elif result.outcome == channel.NOT_CONNECTED:
            verdicts[charger.pk] = "not_connected"
    if answered_now:
        try:
            redis_client().hset(ANSWERED, mapping=answered_now)
        except redis.RedisError:
            log.warning("could not note answered probes", exc_info=True)
    return verdicts
