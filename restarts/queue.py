"""Publishing restart tasks by name, and whether the task queue answers at all.

The writers (services, waves, deadlines) enqueue tasks by their names, so they
never import restarts.tasks; tasks.py takes its names from here. The names are a
contract: running workers, queued messages and the beat schedule (settings) use them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache, partial

import kombu.exceptions
import redis
from celery import signature
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

SEND_RESETS = "restarts.send_resets"
TRIGGER_BOOT = "restarts.trigger_boot"
RELEASE_WAITING_JOBS = "restarts.release_waiting_jobs"
ENFORCE_DEADLINES = "restarts.enforce_deadlines"
SEND_SUMMARIES = "restarts.send_summaries"
RELEASE_PLANNED = "restarts.release_planned"

# What publishing a task raises when Redis is away.
QUEUE_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError)


@cache
def redis_client(url: str) -> redis.Redis:
    """One client per URL with short timeouts: a missing Redis answers in a second."""
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def queue_available() -> bool:
    """True when the task queue (Redis) answers; without it no Reset can be sent."""
    try:
        return bool(redis_client(settings.CELERY_BROKER_URL).ping())
    except redis.RedisError:
        return False


def enqueue(task: str, messages: Iterable[tuple], *, countdown: float | None = None) -> None:
    """Publish one `task` message per argument tuple in `messages`, in order.

    If the queue has gone away, stop and leave the rest to the safety net: the beat's
    `restart_jobs_enforce` resends released jobs that never ran (RESTART_RELEASE_STALE)
    and releases waves on its own. Raising instead would fail whoever enqueued after
    commit (the OKAY that had just created the request answered 500) and make each
    further publish wait out its retries first.
    """
    messages = list(messages)
    for n, args in enumerate(messages):
        try:
            # A signature by name runs eagerly under CELERY_TASK_ALWAYS_EAGER, like delay().
            signature(task, args=args).apply_async(countdown=countdown or None)
        except QUEUE_ERRORS as exc:
            log.warning(
                "task queue unavailable, %d %s message(s) left to the deadline sweep: %s",
                len(messages) - n,
                task,
                exc,
            )
            return


def enqueue_on_commit(task: str, messages: Iterable[tuple], **options) -> None:
    """`enqueue` once the current transaction commits; nothing if it rolls back."""
    transaction.on_commit(partial(enqueue, task, list(messages), **options))
