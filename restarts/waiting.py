"""Jobs waiting for their charger (`waiting`, still shown Genstarter), and when they go on.

A job waits, without holding a slot in its group's wave, when its charger is

- not connected when its turn comes (briefly gone, in a reconnect storm): up to
  RESTART_RECONNECT_WAIT, then `skipped`;
- connected but not registered: no BootNotification accepted on its current socket
  (the gateway refused to send the Reset, `not_registered`): the Reset goes after its
  boot; `skipped` when none came within RESTART_BOOT_DEADLINE;
- refused the Reset because of its state (CallError SecurityError or NotSupported):
  tried once more after its next accepted boot; `rejected` when none came within
  RESTART_BOOT_DEADLINE;
- held by a gateway whose liveness is late (busy, not known dead; nothing was sent):
  tried again at the beat's next sweep. No deadline of its own: a gateway late for
  good is soon gone, and its chargers are then not connected.

A charger ready again (connected, registered on its socket, and booted since a refusal)
sends its job back to `queued`, and the waves send it: on the gateway's boot signal at
once, else at the beat's next sweep. A charger back on a socket without a boot for
RESTART_BOOT_GRACE is asked for one (TriggerMessage), once per wait.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q

from ocpp_gateway import channel
from restarts import queue
from restarts.models import RestartJob
from restarts.waves import release_on_commit

State = RestartJob.State

# Why a job waits (its detail while `waiting`).
NOT_CONNECTED = "not_connected"
NOT_REGISTERED = "not_registered"
GATEWAY_LATE = channel.GATEWAY_LATE
RETRY_MARK = "retry after boot: "
# CallErrors a charger gives because of its state (before its registration, say).
STATE_ERRORS = ("SecurityError", "NotSupported")


def _ready(jobs):
    """Those whose charger is connected, registered on its current socket, and (after a
    refusal) has booted since it refused."""
    registered = jobs.filter(
        charger__is_connected=True, charger__last_boot_at__gte=F("charger__connected_at")
    )
    return registered.filter(
        Q(answered_at__isnull=True) | Q(charger__last_boot_at__gt=F("answered_at"))
    )


def restart_jobs_requeue_ready(jobs) -> list[int]:
    """Waiting jobs among `jobs` whose charger is ready go back to the queue (and waves)."""
    ids = _ready(jobs).move(
        State.WAITING, State.QUEUED, released_at=None, trigger_sent_at=None, trigger_written_at=None
    )
    if ids:
        release_on_commit()
    return ids


def restart_jobs_charger_registered(*, charger_id: int) -> int:
    """The gateway accepted the charger's BootNotification: its waiting job goes on."""
    return len(restart_jobs_requeue_ready(RestartJob.objects.filter(charger_id=charger_id)))


def restart_jobs_wait_for_gateway(*, job_ids, now=None) -> list[int]:
    """Claimed jobs whose gateway was late (sent → waiting): nothing left; try again."""
    ids = RestartJob.objects.filter(pk__in=list(job_ids)).move(
        State.SENT, State.WAITING, detail=GATEWAY_LATE, sent_at=None
    )
    if ids:
        release_on_commit()
    return ids


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


def restart_jobs_enforce_waiting(*, now) -> dict[str, int]:
    """The beat's part for waiting jobs: go on (a missed signal), ask for a boot, give up."""
    jobs = RestartJob.objects.filter(state=State.WAITING)
    done = {"requeued": len(restart_jobs_requeue_ready(jobs))}
    # Their gateway was late: try again (the send looks at its liveness afresh).
    late = jobs.filter(detail=GATEWAY_LATE)
    done["requeued"] += len(late.move(State.WAITING, State.QUEUED, released_at=None))

    # On a socket without a boot for the grace (back after a blip, say): ask for one.
    booted_here = Q(charger__last_boot_at__gte=F("charger__connected_at"))
    ask = (
        jobs.filter(
            charger__is_connected=True,
            trigger_sent_at__isnull=True,
            charger__connected_at__lte=now - _seconds("RESTART_BOOT_GRACE"),
        )
        .exclude(booted_here)
        .ask_for_boot(now)  # only those this sweep stamped: once per wait
    )
    if ask:
        queue.enqueue_on_commit(queue.TRIGGER_BOOT, [(pk,) for pk in ask])
    done["asked"] = len(ask)

    reconnect_deadline = now - _seconds("RESTART_RECONNECT_WAIT")
    away = jobs.filter(detail=NOT_CONNECTED, claimed_at__lt=reconnect_deadline)
    boot_deadline = now - _seconds("RESTART_BOOT_DEADLINE")
    unregistered = jobs.filter(detail=NOT_REGISTERED, claimed_at__lt=boot_deadline)
    refused = jobs.filter(detail__startswith=RETRY_MARK, claimed_at__lt=boot_deadline)
    ended = away.move(State.WAITING, State.SKIPPED, finished_at=now)
    ended += unregistered.move(State.WAITING, State.SKIPPED, finished_at=now)
    ended += refused.move(State.WAITING, State.REJECTED, finished_at=now)
    done["gave_up"] = len(ended)
    return done
