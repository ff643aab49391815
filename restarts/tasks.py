"""Celery tasks for restarts: they take ids, load fresh state and call jobs, waves, deadlines.

Their names are in restarts/queue.py, through which everything else enqueues them.
All run on the "restarts" queue (CELERY_TASK_ROUTES), are acknowledged late
(a dead worker's task is redelivered) and are bounded in time. A redelivered or
duplicated `send_resets` finds its jobs no longer queued and sends nothing, so one
job never resets a charger twice. Only transient infrastructure errors are retried,
and only where they strike before the Reset could have left.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ocpp_gateway import channel, commands
from restarts import queue
from restarts.deadlines import restart_jobs_enforce
from restarts.jobs import restart_jobs_claim, restart_jobs_record_answers, restart_jobs_unclaim
from restarts.models import RestartJob
from restarts.plans import restart_jobs_release_planned
from restarts.summaries import restart_summaries_send
from restarts.waiting import restart_jobs_wait_for_gateway
from restarts.waves import release_pending_clear, restart_jobs_release

log = logging.getLogger(__name__)
State = RestartJob.State

TRANSIENT = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}
# A call waits at most RESTART_CALL_TIMEOUT for the charger, and OCPP_REPLY_WAIT_MAX
# more for a reply a busy gateway owes; the limits leave room for the database around
# it and stay below the broker's visibility timeout.
CALL_SOFT_LIMIT = settings.RESTART_CALL_TIMEOUT + settings.OCPP_REPLY_WAIT_MAX + 15
CALL_HARD_LIMIT = settings.RESTART_CALL_TIMEOUT + settings.OCPP_REPLY_WAIT_MAX + 30


@shared_task(
    name=queue.SEND_RESETS,
    soft_time_limit=CALL_SOFT_LIMIT,
    time_limit=CALL_HARD_LIMIT,
    **RETRY,
)
def send_resets(job_ids: list[int]) -> dict[int, str]:
    """Claim a chunk of jobs (queued → sent), reset their chargers at once, record the answers.

    Returns {job id: new state} for the answers recorded. A redelivered or duplicated
    message claims nothing (the jobs are no longer queued) and sends nothing.
    """
    # Named before the claim, and recorded with it: was it ever pushed? (deadlines.py)
    # Redis away: nothing is claimed, the task is retried.
    batch = commands.open_batch()
    jobs = restart_jobs_claim(job_ids=job_ids, batch=batch)
    if not jobs:
        return {}
    states: dict[int, str] = {}
    unrecorded: list[tuple[int, commands.CallResult]] = []

    def record(arrived: list[tuple[int, commands.CallResult]]) -> None:
        """Write each answer as it arrives, in the middle of collecting the rest."""
        answers = [(jobs[i].pk, r) for i, r in arrived if r.outcome != commands.NOT_SENT]
        if not answers:
            return
        try:
            states.update(restart_jobs_record_answers(answers=answers))
        except TRANSIENT as exc:  # tried once more when the rest are in
            log.warning("could not record %d answers yet: %s", len(answers), exc)
            unrecorded.extend(answers)

    results = commands.send_resets(
        [(job.charger.charge_point_id, job.reset_type) for job in jobs],
        timeout=settings.RESTART_CALL_TIMEOUT,
        on_result=record,
        registered=True,  # a charger not registered on its socket waits (waiting.py)
        batch=batch,
    )
    pairs = list(zip(jobs, results, strict=True))
    for job, result in pairs:
        log.info(
            "restart job %s (%s): Reset %s → %s %s %s",
            job.pk,
            job.charger.charge_point_id,
            job.reset_type,
            result.outcome,
            result.status or "",
            states.get(job.pk, "(moved on)"),
        )
    not_sent = [(j.pk, r.detail) for j, r in pairs if r.outcome == commands.NOT_SENT]
    # Their gateway is late (busy, not known dead): nothing was pushed. The jobs wait and
    # are tried again (waiting.py): a late liveness is never a verdict.
    late = [pk for pk, detail in not_sent if detail.startswith(channel.GATEWAY_LATE)]
    if late:
        restart_jobs_wait_for_gateway(job_ids=late)
        states.update(dict.fromkeys(late, RestartJob.State.WAITING))
        not_sent = [(pk, detail) for pk, detail in not_sent if pk not in set(late)]
    if not_sent:
        # Redis failed before these Resets were queued: put the jobs back and retry the
        # chunk later (the retry claims only what is queued again), or, if the retry
        # cannot be queued either, the beat resends them. Recorded as answers they would
        # be "no answer" for chargers that were never asked.
        restart_jobs_unclaim(job_ids=[pk for pk, _d in not_sent])
    if unrecorded:
        # Still failing: the task is retried (its jobs are claimed, so it sends nothing
        # again) and the beat's deadlines settle what stays unrecorded.
        states.update(restart_jobs_record_answers(answers=unrecorded))
    if not_sent:
        raise redis.ConnectionError(not_sent[0][1])
    return states


@shared_task(
    name=queue.TRIGGER_BOOT,
    soft_time_limit=CALL_SOFT_LIMIT,
    time_limit=CALL_HARD_LIMIT,
    **RETRY,
)
def trigger_boot(job_id: int) -> str | None:
    """Ask a charger that came back without a BootNotification to send one."""
    job = (
        RestartJob.objects.select_related("charger")
        .filter(pk=job_id, state__in=[State.ACCEPTED, State.SENT, State.WAITING])
        .first()
    )
    if job is None:
        return None
    result = commands.trigger_boot_notification(
        job.charger.charge_point_id, timeout=settings.RESTART_CALL_TIMEOUT
    )
    log.info("restart job %s: TriggerMessage(BootNotification) → %s", job_id, result.outcome)
    not_stamped = RestartJob.objects.filter(pk=job_id, trigger_written_at__isnull=True)
    if result.sent_at is not None:  # the gateway stamps only what it wrote
        # The wait for the boot counts from the gateway's stamp of writing the ask.
        not_stamped.update(trigger_written_at=datetime.fromtimestamp(result.sent_at, UTC))
    else:
        # Never written (not connected, not registered, the channel failed): the next
        # sweep asks again while the job is still open.
        not_stamped.update(trigger_sent_at=None)
    return result.outcome


@shared_task(name=queue.RELEASE_WAITING_JOBS, soft_time_limit=30, time_limit=60, **RETRY)
def release_waiting_jobs() -> int:
    """Give waiting jobs their slots in the waves (jobs just finished)."""
    release_pending_clear()  # before reading: a later finish enqueues another
    return len(restart_jobs_release())


@shared_task(name=queue.ENFORCE_DEADLINES, soft_time_limit=60, time_limit=90, **RETRY)
def enforce_deadlines() -> dict[str, int]:
    """The beat's safety net: deadlines, missed signals, lost messages, waves."""
    return restart_jobs_enforce()


@shared_task(name=queue.SEND_SUMMARIES, soft_time_limit=120, time_limit=150, **RETRY)
def send_summaries() -> list[int]:
    """The beat: e-mail the requester of each request that ended with a failure, once."""
    return restart_summaries_send()


@shared_task(name=queue.RELEASE_PLANNED, soft_time_limit=60, time_limit=90, **RETRY)
def release_planned() -> int:
    """The beat's: planned restarts whose time has come join the queue (plans.py)."""
    return len(restart_jobs_release_planned())
