"""Reads for restarts: the state a charger row shows, and the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chargers.access import manageable_chargers
from restarts.models import RestartJob, RestartRequest

State = RestartJob.State

# How long a failed restart stays marked on its charger's row.
FAILURE_SHOWN_FOR = timedelta(hours=24)

FAILURE_TEXT = {
    State.REJECTED: _("Restart failed: rejected"),
    State.NO_ANSWER: _("Restart failed: no answer"),
    State.NOT_BACK: _("Restart failed: did not come back"),
    State.SKIPPED: _("Restart skipped"),
}


@dataclass(frozen=True)
class RowRestart:
    """What a charger's row says about its latest restart."""

    state: str
    busy: bool  # disabled, "Genstarter" (or waiting for the session to end)
    text: str
    kind: str  # css badge kind

    @property
    def resetting(self) -> bool:
        return self.state in RestartJob.RESETTING


def with_latest_restart(qs: QuerySet) -> QuerySet:
    """Annotate chargers with their latest job's state and end (two indexed subqueries)."""
    latest = RestartJob.objects.filter(charger=OuterRef("pk")).order_by("-created_at", "-pk")
    return qs.annotate(
        restart_state=Subquery(latest.values("state")[:1]),
        restart_finished_at=Subquery(latest.values("finished_at")[:1]),
    )


def row_restart(state: str | None, finished_at, now=None) -> RowRestart | None:
    if state in RestartJob.RESETTING:
        return RowRestart(state, True, str(_("Restarting")), "busy")
    if state == State.SCHEDULED:
        return RowRestart(state, True, str(_("Restarts when charging ends")), "warn")
    now = now or timezone.now()
    if state in FAILURE_TEXT and finished_at and finished_at > now - FAILURE_SHOWN_FOR:
        return RowRestart(state, False, str(FAILURE_TEXT[state]), "bad")
    return None


def attach_row_restarts(chargers) -> str | None:
    """Set `.restart` on each annotated charger; return the polling interval needed, if any."""
    now = timezone.now()
    poll = None
    for charger in chargers:
        charger.restart = row_restart(charger.restart_state, charger.restart_finished_at, now)
        if charger.restart and charger.restart.busy:
            poll = "2s" if charger.restart.resetting or poll == "2s" else "10s"
    return poll


def history_for(user) -> QuerySet[RestartRequest]:
    """Requests touching chargers `user` manages, counting only those jobs."""
    mine = Q(jobs__charger__in=manageable_chargers(user))
    scope = RestartJob.objects.filter(charger__in=manageable_chargers(user))
    return (
        RestartRequest.objects.filter(pk__in=scope.values("request_id"))
        .annotate(
            total=Count("jobs", filter=mine),
            done=Count("jobs", filter=mine & Q(jobs__state=State.DONE)),
            failed=Count("jobs", filter=mine & Q(jobs__state__in=RestartJob.FAILED)),
            pending=Count("jobs", filter=mine & Q(jobs__state__in=RestartJob.UNFINISHED)),
        )
        .order_by("-requested_at", "-pk")
    )


def jobs_in_scope(user, restart_request: RestartRequest | None = None) -> QuerySet[RestartJob]:
    """The jobs on chargers `user` manages (of one request, or of all): what they may export."""
    jobs = RestartJob.objects.filter(charger__in=manageable_chargers(user))
    return jobs if restart_request is None else jobs.filter(request=restart_request)


def jobs_for(user, restart_request: RestartRequest) -> QuerySet[RestartJob]:
    return (
        restart_request.jobs.filter(charger__in=manageable_chargers(user))
        .select_related("charger__group")
        .order_by("charger__name", "pk")
    )
