"""Cancelling restart jobs that have not reached their charger yet.

Two ways a job ends `cancelled`:

- The requester lost the right meanwhile. `restart_jobs_drop_lost_rights` runs when
  jobs are finally sent (the claim): a job whose requester may no longer restart its
  charger (`eligibility.rights_lost`: role and group, an active user, Business for a
  request of several) is cancelled with the reason as its detail.
- An admin cancels. `restart_request_cancel` (a request's history page, the API) and
  `restart_charger_cancel` (a charger's page) cancel the unfinished jobs of chargers
  the admin manages (`chargers.access.manageable_chargers`, the one place).

A Reset already written to a charger cannot be taken back: the charger restarts
whatever we record. So cancel moves only the jobs whose Reset has not gone out
(planned, queued, waiting, and a 1.6 charger's job held back for a session); a job that is
sent, accepted, or accepted as "Scheduled" by a 2.0.1 charger (it resets itself when
idle) is underway and is left to finish, and the answer says how many those are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chargers.access import get_manageable_charger, manageable_chargers
from restarts.eligibility import rights_lost
from restarts.models import RestartJob, RestartRequest
from restarts.services import _common_group
from restarts.waves import release_on_commit
from tenancy import audit

State = RestartJob.State

# States a job may be cancelled in, if its Reset has not gone out (see `not_yet_sent`).
CANCELLABLE = (State.PLANNED, State.QUEUED, State.WAITING, State.SCHEDULED)


def not_yet_sent(jobs: QuerySet[RestartJob]) -> QuerySet[RestartJob]:
    """The unfinished jobs here whose Reset has not been written to the charger."""
    return jobs.filter(state__in=CANCELLABLE).exclude(state=State.SCHEDULED, sent_at__isnull=False)


def is_not_yet_sent(job: RestartJob) -> bool:
    """The same test as `not_yet_sent`, for one loaded job."""
    if job.state == State.SCHEDULED:
        return job.sent_at is None
    return job.state in CANCELLABLE


@dataclass(frozen=True)
class Preview:
    """What a cancel would do now: how many it would cancel, how many are underway."""

    cancellable: int
    underway: int


def cancel_preview(jobs: QuerySet[RestartJob]) -> Preview:
    unfinished = jobs.filter(state__in=State.unfinished())
    cancellable = not_yet_sent(unfinished).count()
    return Preview(cancellable=cancellable, underway=unfinished.count() - cancellable)


def request_jobs(user, request_id) -> QuerySet[RestartJob]:
    """A request's jobs on the chargers `user` manages (the only ones they may cancel)."""
    return RestartJob.objects.filter(request_id=request_id, charger__in=manageable_chargers(user))


def restart_jobs_drop_lost_rights(jobs: Iterable[RestartJob], *, now=None) -> list[RestartJob]:
    """Cancel the queued jobs among `jobs` whose requester lost the right to restart the
    charger; return the others. Called as the jobs are claimed for sending."""
    now = now or timezone.now()
    jobs = list(jobs)
    lost = rights_lost(jobs, now=now)
    moved: set[int] = set()
    for code in set(lost.values()):
        ids = [pk for pk, why in lost.items() if why == code]
        moved |= set(
            RestartJob.objects.filter(pk__in=ids).move(
                CANCELLABLE, State.CANCELLED, detail=code, finished_at=now
            )
        )
    if moved:
        release_on_commit()
    return [job for job in jobs if job.pk not in lost]


@dataclass(frozen=True)
class Cancelled:
    """What a cancel did: the jobs it cancelled, and how many were already underway."""

    cancelled: list[int]
    underway: int


def _cancel(jobs: QuerySet[RestartJob], *, user, now) -> Cancelled:
    jobs = jobs.filter(state__in=State.unfinished())
    moved = not_yet_sent(jobs).move(
        CANCELLABLE,
        State.CANCELLED,
        detail=f"cancelled_by:{user.get_username()}"[:300],
        finished_at=now,
    )
    if moved:
        release_on_commit()
    return Cancelled(cancelled=moved, underway=jobs.count())


@transaction.atomic
def restart_request_cancel(*, user, request_id: int, ip: str | None = None) -> Cancelled:
    """Cancel a request's unfinished jobs on the chargers `user` manages.

    Raises RestartRequest.DoesNotExist when none of its jobs are on such chargers
    (the same as a request that does not exist).
    """
    restart_request = RestartRequest.objects.filter(pk=request_id).first()
    jobs = request_jobs(user, request_id)
    if restart_request is None or not jobs.exists():
        raise RestartRequest.DoesNotExist
    now = timezone.now()
    done = _cancel(jobs, user=user, now=now)
    if done.cancelled:
        _audit(user, ip, restart_request, done, group=None)
    return done


@transaction.atomic
def restart_charger_cancel(*, user, charger_id, ip: str | None = None) -> Cancelled:
    """Cancel a charger's unfinished restart. 404 (Http404) for a charger `user` cannot
    see, 403 (PermissionDenied) for one they see but do not manage."""
    charger = get_manageable_charger(user, charger_id)
    now = timezone.now()
    jobs = RestartJob.objects.filter(charger=charger)
    job = jobs.filter(state__in=State.unfinished()).select_related("request").first()
    done = _cancel(jobs, user=user, now=now)
    if done.cancelled and job is not None:
        _audit(user, ip, job.request, done, group=charger.group)
    return done


def _audit(user, ip, restart_request: RestartRequest, done: Cancelled, *, group) -> None:
    chargers = [
        job.charger
        for job in RestartJob.objects.filter(pk__in=done.cancelled)
        .select_related("charger__group")
        .order_by("charger__charge_point_id")
    ]
    audit.record(
        action="restart.cancelled",
        actor=user,
        ip=ip,
        group=group or _common_group(chargers),
        obj=restart_request,
        summary=f"Cancelled {len(done.cancelled)} restart job(s); {done.underway} underway",
        after={
            "cancelled": [charger.charge_point_id for charger in chargers],
            "underway": done.underway,
        },
    )
