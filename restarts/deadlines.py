"""The deadline sweep: the beat's safety net, so that nothing stays "Genstarter" forever.

Run by the `restarts.enforce_deadlines` task every RESTART_ENFORCE_INTERVAL seconds:
deadlines for answers, boots and sessions, signals the gateway did not deliver,
messages that were lost, and the waves.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ocpp_gateway import commands, registry
from restarts import queue
from restarts.jobs import (
    restart_jobs_back_since_sent,
    restart_jobs_booted_since_sent,
    restart_jobs_confirmation,
)
from restarts.models import RestartJob
from restarts.waiting import restart_jobs_enforce_waiting
from restarts.waves import restart_jobs_release, send_on_commit

log = logging.getLogger(__name__)
State = RestartJob.State


def _never_pushed(orphans, now) -> list[int] | None:
    """The ids among `orphans` whose command batch was never pushed and now never can be
    (commands.fence_batches takes it back), or None when Redis cannot say. A claim older
    than half the marks' lifetime is not asked: its mark may have expired."""
    recent = orphans.exclude(call_batch="").filter(
        claimed_at__gte=now - timedelta(seconds=registry.PUSHED_TTL / 2)
    )
    batches = dict(recent.values_list("pk", "call_batch"))
    try:
        never = commands.fence_batches(batches.values())
    except redis.RedisError as exc:
        log.warning("cannot tell whether orphaned Resets were pushed: %s", exc)
        return None
    return [pk for pk, batch in batches.items() if never[batch]]


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


@transaction.atomic
def restart_jobs_enforce(*, now=None) -> dict[str, int]:
    """Move every job that waited too long; ask silent chargers for a BootNotification.

    Returns how many jobs each rule moved (or asked, or sent again).
    """
    now = now or timezone.now()
    grace = _seconds("RESTART_BOOT_GRACE")
    jobs = RestartJob.objects
    done: dict[str, int] = {}

    boot_deadline = now - _seconds("RESTART_BOOT_DEADLINE")
    # Claimed longer ago than a send task can live, and no answer recorded: its worker
    # died (or hangs). Its command batch is taken back if it was never pushed: then
    # nothing reached the charger, and the job goes back in the queue and is sent. Pushed,
    # or nobody can tell (another Redis incarnation): it may have left, a lost answer,
    # which a boot can confirm. Redis away: asked again at the next sweep, and past the
    # boot deadline a lost answer as well.
    orphaned = now - timedelta(
        seconds=settings.RESTART_CALL_TIMEOUT + settings.OCPP_REPLY_WAIT_MAX + 60
    )
    orphans = jobs.filter(state=State.SENT, answer_lost=False, claimed_at__lt=orphaned)
    never = _never_pushed(orphans, now)
    if never is None:
        orphans, never = orphans.filter(claimed_at__lt=boot_deadline), []
    requeued = orphans.filter(pk__in=never).move(
        State.SENT, State.QUEUED, claimed_at=None, call_batch="", released_at=now
    )
    send_on_commit(requeued)
    done["unsent"] = len(requeued)
    done["orphaned"] = len(
        orphans.exclude(pk__in=never).move(
            State.SENT, State.SENT, detail="no_result", answer_lost=True
        )
    )
    # A lost answer is no verdict; no boot either by the boot deadline is. (A job whose
    # worker died between claim and answer has no `sent_at`: its claim stands in.)
    lost = jobs.filter(
        Q(sent_at__lt=boot_deadline) | Q(sent_at__isnull=True, claimed_at__lt=boot_deadline),
        answer_lost=True,
    )
    done["no_answer"] = len(lost.move(State.SENT, State.NO_ANSWER, finished_at=now))

    # A boot the signal did not deliver (raced with the answer, or a missed signal).
    done["boot"] = len(
        restart_jobs_booted_since_sent(jobs).move(
            [State.ACCEPTED, State.SENT],
            State.DONE,
            finished_at=now,
            confirmed_by=restart_jobs_confirmation(),
        )
    )

    # Back on a socket opened after the Reset was written (answered, or the answer lost).
    reconnected = restart_jobs_back_since_sent(jobs)
    # Asked for a BootNotification, and still none: back, but the restart is not
    # confirmed (a network blip looks the same). Never shown as plain success.
    # The wait counts from when the gateway wrote the TriggerMessage.
    unconfirmed = reconnected.filter(trigger_written_at__lte=now - grace)
    done["unconfirmed"] = len(
        unconfirmed.move(
            [State.ACCEPTED, State.SENT],
            State.UNCONFIRMED,
            detail="no_boot_when_asked",
            finished_at=now,
        )
    )

    # Asked, but the TriggerMessage was never written (its task lost or late past the
    # call's own timeout): ask again.
    reconnected.filter(
        state__in=[State.ACCEPTED, State.SENT],
        trigger_written_at__isnull=True,
        trigger_sent_at__lte=now - grace - timedelta(seconds=settings.RESTART_CALL_TIMEOUT),
    ).update(trigger_sent_at=None)

    # Back after the Reset but no BootNotification within the grace: ask for one.
    # Only the jobs this sweep stamped: another sweep at once asks for the others.
    to_trigger = reconnected.filter(
        state__in=[State.ACCEPTED, State.SENT],
        trigger_sent_at__isnull=True,
        charger__connected_at__lte=now - grace,
    ).ask_for_boot(now)
    if to_trigger:
        queue.enqueue_on_commit(queue.TRIGGER_BOOT, [(pk,) for pk in to_trigger])
    done["trigger"] = len(to_trigger)

    not_back = jobs.filter(accepted_at__lt=boot_deadline)
    done["not_back"] = len(
        not_back.move(State.ACCEPTED, State.NOT_BACK, detail="no_boot", finished_at=now)
    )

    # Scheduled too long: the session never ended (or the charger never rebooted).
    too_long = jobs.filter(scheduled_at__lt=now - _seconds("RESTART_SCHEDULED_DEADLINE"))
    done["not_back"] += len(
        too_long.filter(sent_at__isnull=False).move(
            State.SCHEDULED, State.NOT_BACK, detail="no_boot", finished_at=now
        )
    )
    done["skipped"] = len(
        too_long.filter(sent_at__isnull=True).move(
            State.SCHEDULED, State.SKIPPED, detail="session_did_not_end", finished_at=now
        )
    )
    # A 1.6 job waiting for a session end the signal did not deliver.
    session_over = jobs.filter(sent_at__isnull=True, charger__session_active=False)
    done["requeued"] = len(session_over.move(State.SCHEDULED, State.QUEUED, released_at=None))

    # Released but never picked up (a lost message): send again; the claim makes it safe.
    stale = list(
        jobs.filter(
            state=State.QUEUED, released_at__lt=now - _seconds("RESTART_RELEASE_STALE")
        ).values_list("pk", flat=True)
    )
    if stale:
        jobs.filter(pk__in=stale, state=State.QUEUED).update(released_at=now)
        send_on_commit(stale)
    done["resent"] = len(stale)

    for rule, count in restart_jobs_enforce_waiting(now=now).items():
        done[f"waiting_{rule}"] = count

    done["released"] = len(restart_jobs_release(now=now))
    changed = {k: v for k, v in done.items() if v}
    if changed:
        log.info("restart deadlines: %s", changed)
    return done
