"""Planned restarts: a request whose jobs wait as `planned` until `not_before`.

The plan lives in PostgreSQL (RestartRequest.not_before, the jobs' state), never in a
long Celery ETA: a beat task (`restarts.release_planned`, every
RESTART_ENFORCE_INTERVAL) moves the jobs that are due to `queued`, and from there they
go as any restart does: waves, the requester's right checked again when each is sent
(cancel.py), the charger's connection and sessions. So a plan survives restarts of
every process, and is cancelled like any job not yet sent.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from restarts.models import RestartJob
from restarts.waves import restart_jobs_release
from tenancy.maintenance import maintenance_windows
from tenancy.models import Group, Membership

State = RestartJob.State

MAX_AHEAD = timedelta(days=30)
DEFAULT_HOUR = time(3, 0)  # "the coming night at 03:00"


class BadPlan(ValueError):
    """The planned time cannot be used; the message says why, in the user's language."""


def check(not_before: datetime, *, now=None) -> datetime:
    """The plan as an aware datetime, if it is in the future and within 30 days."""
    now = now or timezone.now()
    if timezone.is_naive(not_before):
        raise BadPlan(_("The planned time needs a time zone offset, e.g. +01:00."))
    if not_before <= now:
        raise BadPlan(_("The planned time must be in the future."))
    if not_before > now + MAX_AHEAD:
        raise BadPlan(_("The planned time must be within 30 days."))
    return not_before


def parse_local(text: str, tz_name: str) -> datetime:
    """A date and time as the window's field sends it (YYYY-MM-DDTHH:MM), in `tz_name`."""
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise BadPlan(_("Unknown time zone.")) from exc
    try:
        naive = datetime.fromisoformat((text or "").strip())
    except ValueError as exc:
        raise BadPlan(_("Give the planned date and time.")) from exc
    if naive.tzinfo is not None:
        raise BadPlan(_("Give the planned date and time."))
    return naive.replace(tzinfo=tz)


def time_zone_for(user) -> zoneinfo.ZoneInfo:
    """The time zone a user plans in: their (first) organisation's, else the portal's."""
    membership = (
        Membership.objects.filter(user=user)
        .select_related("group__organisation")
        .order_by("pk")
        .first()
    )
    if membership is None:
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return membership.group.organisation.tzinfo


def default_plan(tz: zoneinfo.ZoneInfo, *, now=None) -> datetime:
    """The coming night at 03:00 in `tz` (today's, if that is still ahead)."""
    local = timezone.localtime(now or timezone.now(), tz)
    plan = datetime.combine(local.date(), DEFAULT_HOUR, tzinfo=tz)
    return (
        plan
        if plan > local
        else datetime.combine(local.date() + timedelta(days=1), DEFAULT_HOUR, tzinfo=tz)
    )


@dataclass(frozen=True)
class PlanDefault:
    """What the window's Planlæg field is preset to, and a line saying why."""

    at: datetime
    note: str


def plan_default(tz: zoneinfo.ZoneInfo, group_ids, *, now=None) -> PlanDefault:
    """The next start of the chargers' maintenance window when all of `group_ids` share
    one; otherwise the coming 03:00 (`default_plan`), and the note says which."""
    groups = Group.objects.filter(pk__in=set(group_ids))
    windows = maintenance_windows(groups)
    shared = {(w.start, w.end, w.tz.key) for w in windows.values() if w}
    if windows and len(shared) == 1 and all(windows.values()):
        window = next(iter(windows.values()))
        at = timezone.localtime(window.next_start(now), tz)
        note = _("Preset to the next start of the chargers' maintenance window (%(window)s).")
        return PlanDefault(at, note % {"window": window})
    if not windows:
        return PlanDefault(default_plan(tz, now=now), "")
    if shared:
        note = _("Preset to 03:00: the chargers do not share one maintenance window.")
    else:
        note = _("Preset to 03:00: the chargers' groups have no maintenance window.")
    return PlanDefault(default_plan(tz, now=now), note)


@transaction.atomic
def restart_jobs_release_planned(*, now=None) -> list[int]:
    """Planned jobs whose time has come go to the queue, and the waves take them on."""
    now = now or timezone.now()
    due = RestartJob.objects.filter(state=State.PLANNED, request__not_before__lte=now)
    moved = due.move(State.PLANNED, State.QUEUED, released_at=None)
    if moved:
        groups = set(
            RestartJob.objects.filter(pk__in=moved).values_list("charger__group_id", flat=True)
        )
        restart_jobs_release(group_ids=groups, now=now)
    return moved
