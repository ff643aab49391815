"""The beat's self-healing task (CELERY_BEAT_SCHEDULE "restarts-self-healing")."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from restarts.healing.engine import healing_sweep
from restarts.tasks import RETRY

SELF_HEALING = "restarts.self_healing"


@shared_task(
    name=SELF_HEALING,
    soft_time_limit=2 * settings.HEALING_PROBE_TIMEOUT + settings.OCPP_REPLY_WAIT_MAX + 60,
    time_limit=2 * settings.HEALING_PROBE_TIMEOUT + settings.OCPP_REPLY_WAIT_MAX + 90,
    **RETRY,
)
def self_healing() -> dict[str, int]:
    """Find stuck chargers and move each one's ladder on (restarts/healing/)."""
    return healing_sweep()
