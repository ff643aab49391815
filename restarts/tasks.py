"""Celery tasks for restarts: they take ids, load fresh state and call the services.

All run on the "restarts" queue (CELERY_TASK_ROUTES), are acknowledged late
(a dead worker's task is redelivered) and are bounded in time. A redelivered or
duplicated `send_reset` finds its job no longer queued and returns, so one job
never resets a charger twice. Only transient infrastructure errors are retried,
and only where they strike before the Reset could have left.
"""

from __future__ import annotations

import logging

import redis
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ocpp_gateway import commands
from restarts import services
from restarts.models import RestartJob

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}
# A call waits at most RESTART_CALL_TIMEOUT for the charger; the limits leave room
# for the database around it and stay below RESTART_ANSWER_DEADLINE and the broker's
# visibility timeout.
CALL_SOFT_LIMIT = settings.RESTART_CALL_TIMEOUT + 15
CALL_HARD_LIMIT = settings.RESTART_CALL_TIMEOUT + 30


@shared_task(
    name="restarts.send_reset", soft_time_limit=CALL_SOFT_LIMIT, time_limit=CALL_HARD_LIMIT, **RETRY
)
def send_reset(job_id: int) -> str | None:
    """Claim the job (queued → sent), send the Reset, record the answer."""
    job = services.restart_job_claim(job_id=job_id)
    if job is None:
        return None
    result = commands.send_reset(
        job.charger.charge_point_id, job.reset_type, timeout=settings.RESTART_CALL_TIMEOUT
    )
    if result.outcome == commands.NOT_SENT:
        # Redis failed before the Reset was queued: put the job back and retry later
        # (or, if the retry cannot be queued either, the beat resends it). Recorded as an
        # answer it became "no answer" for a charger that was never asked.
        services.restart_job_unclaim(job_id=job_id)
        raise redis.ConnectionError(result.detail)
    state = services.restart_job_record_answer(job_id=job_id, result=result)
    log.info(
        "restart job %s (%s): Reset %s → %s %s %s",
        job_id,
        job.charger.charge_point_id,
        job.reset_type,
        result.outcome,
        result.status or "",
        state,
    )
    return state


@shared_task(
    name="restarts.trigger_boot",
    soft_time_limit=CALL_SOFT_LIMIT,
    time_limit=CALL_HARD_LIMIT,
    **RETRY,
)
def trigger_boot(job_id: int) -> str | None:
    """Ask a charger that came back without a BootNotification to send one."""
    job = (
        RestartJob.objects.select_related("charger")
        .filter(pk=job_id, state=RestartJob.State.ACCEPTED)
        .first()
    )
    if job is None:
        return None
    result = commands.trigger_boot_notification(
        job.charger.charge_point_id, timeout=settings.RESTART_CALL_TIMEOUT
    )
    log.info("restart job %s: TriggerMessage(BootNotification) → %s", job_id, result.outcome)
    return result.outcome


@shared_task(name="restarts.release_waiting_jobs", soft_time_limit=30, time_limit=60, **RETRY)
def release_waiting_jobs() -> int:
    """Give waiting jobs their slots in the waves (a job just finished)."""
    return len(services.restart_jobs_release())


@shared_task(name="restarts.enforce_deadlines", soft_time_limit=60, time_limit=90, **RETRY)
def enforce_deadlines() -> dict[str, int]:
    """The beat's safety net: deadlines, missed signals, lost messages, waves."""
    return services.restart_jobs_enforce()
