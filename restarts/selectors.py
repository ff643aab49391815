"""Reads for restarts: the state a charger row shows, and the history."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import formats, timezone

from chargers.access import manageable_chargers
from restarts.models import RestartJob, RestartRequest
from tenancy import access

State = RestartJob.State

# How long a final restart that needs a look stays marked on its charger's row.
FAILURE_SHOWN_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class RowRestart:
    """What a charger's row says about its latest restart."""

    state: str
    busy: bool  # disabled, "Genstarter" (or waiting for the session to end)
    text: str
    kind: str  # css badge kind
    restarting: bool  # the reset is under way (Genstarter): the rows poll fast
    outcome: str | None  # success / warning / failure / neutral; None while under way


def with_latest_restart(qs: QuerySet) -> QuerySet:
    """Annotate chargers with their latest job's state, end and planned time (indexed
    subqueries)."""
    latest = RestartJob.objects.filter(charger=OuterRef("pk")).order_by("-created_at", "-pk")
    return qs.annotate(
        restart_state=Subquery(latest.values("state")[:1]),
        restart_finished_at=Subquery(latest.values("finished_at")[:1]),
        restart_not_before=Subquery(latest.values("request__not_before")[:1]),
        # A plan is shown in the time zone it was made in: the organisation's.
        restart_plan_tz=F("group__organisation__time_zone"),
    )


def plan_text(not_before, tz_name: str | None = None) -> str:
    """A planned time as rows show it: 03:00 within a day, else with its date; in the
    organisation's time zone `tz_name` (the portal's when none or unknown)."""
    if not_before is None:
        return ""
    try:
        tz = zoneinfo.ZoneInfo(tz_name) if tz_name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = None
    local = timezone.localtime(not_before, tz)
    if not_before - timezone.now() < timedelta(hours=23):
        return formats.time_format(local, "H:i")
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def row_restart(
    state: str | None, finished_at, now=None, not_before=None, plan_tz=None
) -> RowRestart | None:
    """What the row says about its latest job, from the state table: an unfinished one
    always; a final one for a day after it ended, if its state has a row text; a planned
    one with its time."""
    member = State.of(state)
    if member is None or member.meaning.row_text is None:
        return None
    meaning = member.meaning
    if meaning.final:
        now = now or timezone.now()
        if not finished_at or finished_at <= now - FAILURE_SHOWN_FOR:
            return None
    return RowRestart(
        state=member.value,
        busy=member.value in State.holding_row(),
        text=str(meaning.row_text) % {"time": plan_text(not_before, plan_tz)}
        if member == State.PLANNED
        else str(meaning.row_text),
        kind=meaning.badge,
        restarting=meaning.restarting,
        outcome=meaning.outcome,
    )


def attach_row_restarts(chargers) -> str | None:
    """Set `.restart` on each annotated charger; return the polling interval needed, if any."""
    now = timezone.now()
    polls = set()
    for charger in chargers:
        charger.restart = row_restart(
            charger.restart_state,
            charger.restart_finished_at,
            now,
            getattr(charger, "restart_not_before", None),
            getattr(charger, "restart_plan_tz", None),
        )
        if charger.restart and charger.restart.restarting:
            polls.add("2s")
        elif charger.restart and charger.restart.busy:
            polls.add("10s")
        elif charger.restart and charger.restart.state == State.PLANNED:
            polls.add("60s")  # to show Genstarter soon after the planned time
    return next((p for p in ("2s", "10s", "60s") if p in polls), None)


def _count(mine: Q, states: tuple[str, ...]) -> Count:
    return Count("jobs", filter=mine & Q(jobs__state__in=states))


def history_for(user) -> QuerySet[RestartRequest]:
    """Requests touching chargers `user` manages, counting only those jobs."""
    mine = Q(jobs__charger__in=manageable_chargers(user))
    scope = RestartJob.objects.filter(charger__in=manageable_chargers(user))
    return (
        RestartRequest.objects.filter(pk__in=scope.values("request_id"))
        .annotate(
            total=Count("jobs", filter=mine),
            done=_count(mine, State.with_outcome("success")),
            warnings=_count(mine, State.with_outcome("warning")),
            failed=_count(mine, State.with_outcome("failure")),
            cancelled=_count(mine, State.with_outcome("neutral")),
            pending=_count(mine, State.unfinished()),
            planned=_count(mine, (State.PLANNED,)),
            # The plan is shown in its chargers' organisation's time zone, as on the rows.
            plan_tz=Subquery(
                RestartJob.objects.filter(request=OuterRef("pk"))
                .order_by("pk")
                .values("charger__group__organisation__time_zone")[:1]
            ),
        )
        .order_by("-requested_at", "-pk")
    )


# A request as a whole: waiting for its planned time, under way, or over.
REQUEST_STATES = {
    "planned": Q(planned__gt=0),
    "running": Q(pending__gt=F("planned")),
    "finished": Q(pending=0),
}


def request_state(item: RestartRequest) -> str:
    """One of REQUEST_STATES for a request annotated by `history_for`."""
    if item.planned:
        return "planned"
    return "running" if item.pending else "finished"


def jobs_in_scope(user, restart_request: RestartRequest | None = None) -> QuerySet[RestartJob]:
    """The jobs on chargers `user` manages (of one request, or of all): what they may export.

    The scope is joined (job → charger → group path), not `charger IN (manageable
    chargers)`: PostgreSQL then starts from the few jobs asked about (the progress bar on
    every rows poll: 1,000 restarting) instead of hashing every charger the user manages.
    """
    scope = access.scope(user, access.MANAGE_ROLES, "charger__group__path")
    jobs = RestartJob.objects.filter(scope)
    return jobs if restart_request is None else jobs.filter(request=restart_request)


def jobs_for(user, restart_request: RestartRequest) -> QuerySet[RestartJob]:
    return (
        restart_request.jobs.filter(charger__in=manageable_chargers(user))
        .select_related("charger__group__organisation")
        .order_by("charger__name", "pk")
    )
