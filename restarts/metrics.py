"""Restart jobs by state and the task queues' length, for the web's /metrics.

Read at scrape time from the database (one GROUP BY) and the broker (LLEN), so every
gunicorn worker answers the same numbers whichever one Prometheus reaches.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from restarts.models import RestartJob

logger = logging.getLogger(__name__)

TASK_QUEUES = ("restarts", "celery")
QUEUE_TIMEOUT = 0.5


class RestartJobsCollector:
    def describe(self):
        return []

    def collect(self):
        jobs = GaugeMetricFamily(
            "portal_restart_jobs",
            "Restart jobs by state (every job the portal keeps).",
            labels=["state"],
        )
        counts = dict(
            RestartJob.objects.order_by()
            .values_list("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        )
        for state in RestartJob.State.values:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs

        queues = GaugeMetricFamily(
            "portal_task_queue_length",
            "Celery tasks waiting in the broker, by queue.",
            labels=["queue"],
        )
        lengths = _queue_lengths()
        if lengths is not None:
            for name, length in lengths.items():
                queues.add_metric([name], length)
        yield queues


def _queue_lengths() -> dict[str, int] | None:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=QUEUE_TIMEOUT, socket_connect_timeout=QUEUE_TIMEOUT
    )
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in TASK_QUEUES:
                pipe.llen(name)
            return dict(zip(TASK_QUEUES, (int(n) for n in pipe.execute()), strict=True))
    except redis.RedisError:
        logger.warning("metrics: could not read the task queues' length")
        return None
    finally:
        client.close()
