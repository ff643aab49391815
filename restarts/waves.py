"""Waves: at most RESTART_WAVE_SIZE chargers of a group resetting at once, the rest waiting.

A wave is also no bigger than what the gateways say they can admit now (their pacing,
published beside their liveness): a fleet restart does not become a storm they answer
with Pending.

`restart_jobs_release` gives waiting jobs their slots and sends them on their way
in chunks; a job that finishes frees its slot and asks for a release with
`release_on_commit`, which a short-lived Redis mark turns into one release task
per burst of finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ocpp_gateway.pacing import admission_room
from restarts import queue
from restarts.models import RestartJob
from tenancy.models import Group

log = logging.getLogger(__name__)
State = RestartJob.State

RELEASE_PENDING = "restarts:release-pending"


def send_on_commit(job_ids: list[int]) -> None:
    """Send released jobs once committed: one message per chunk of RESTART_SEND_BATCH ids.

    A chunk is claimed, reset and recorded as a whole by one task, so 1,000 chargers
    are a handful of messages, and several chunks keep the worker's pool busy.
    """
    size = max(settings.RESTART_SEND_BATCH, 1)
    chunks = [(job_ids[start : start + size],) for start in range(0, len(job_ids), size)]
    queue.enqueue_on_commit(queue.SEND_RESETS, chunks)


@transaction.atomic
def restart_jobs_release(*, group_ids: Iterable[int] | None = None, now=None) -> list[int]:
    """Give waiting jobs a slot: at most RESTART_WAVE_SIZE chargers of a group reset at once.

    Returns the released job ids; their send tasks are enqueued after commit.
    """
    now = now or timezone.now()
    waiting = RestartJob.objects.filter(state=State.QUEUED, released_at__isnull=True)
    if group_ids is not None:
        waiting = waiting.filter(charger__group_id__in=list(group_ids))
    groups = sorted(set(waiting.values_list("charger__group_id", flat=True)))
    if not groups:
        return []
    # One dispatcher per group at a time (the beat, a finishing job, a new request).
    list(
        Group.objects.select_for_update()
        .filter(pk__in=groups)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    in_flight = Q(state__in=[State.SENT, State.ACCEPTED]) | Q(
        state=State.QUEUED, released_at__isnull=False
    )
    busy = dict(
        RestartJob.objects.filter(in_flight, charger__group_id__in=groups)
        .values_list("charger__group_id")
        .annotate(n=Count("pk"))
    )
    cap = max(settings.RESTART_WAVE_SIZE, 1)
    room = _gateway_room()
    released: list[int] = []
    for group_id in groups:
        free = cap - busy.get(group_id, 0)
        if room is not None:
            free = min(free, room - len(released))
        if free <= 0:
            continue
        ids = list(
            waiting.filter(charger__group_id=group_id)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:free]
        )
        RestartJob.objects.filter(pk__in=ids, state=State.QUEUED, released_at__isnull=True).update(
            released_at=now
        )
        released += ids
    if released:
        send_on_commit(released)
    if room is not None and len(released) >= room:
        # The gateways could take no more now: ask again shortly, not only at the beat.
        release_on_commit()
    return released


def _gateway_room() -> int | None:
    """How many more reboots the running gateways can admit now (they publish it beside
    their liveness, ocpp_gateway.pacing); None when none says, or Redis cannot tell."""
    try:
        return admission_room(
            queue.redis_client(settings.REDIS_URL), grace=settings.OCPP_ALIVE_GRACE
        )
    except redis.RedisError:
        return None


def release_on_commit() -> None:
    """A job finished (or stepped aside) and freed a slot: release the next ones.

    After commit, enqueues one wave release unless one is already waiting to run.
    When 1,000 chargers boot within seconds, one pending release task serves them
    all: it runs RESTART_RELEASE_DELAY after the first finish and clears the mark
    before it reads the jobs, so a job finishing after that enqueues the next one
    (at most one release per delay, and no finish is left without a release after
    it). The mark expires on its own (a lost message cannot block releases for
    long), and the beat releases every RESTART_ENFORCE_INTERVAL regardless.
    """
    transaction.on_commit(_release_unless_pending)


def _release_unless_pending() -> None:
    try:
        first = queue.redis_client(settings.REDIS_URL).set(
            RELEASE_PENDING, "1", nx=True, ex=settings.RESTART_RELEASE_DEBOUNCE
        )
    except redis.RedisError:
        first = True  # better a release too many than one too few
    if first:
        queue.enqueue(queue.RELEASE_WAITING_JOBS, [()], countdown=settings.RESTART_RELEASE_DELAY)


def release_pending_clear() -> None:
    """The release task starts: later finishes must enqueue a release of their own."""
    try:
        queue.redis_client(settings.REDIS_URL).delete(RELEASE_PENDING)
    except redis.RedisError:
        log.warning("could not clear the pending-release mark", exc_info=True)
