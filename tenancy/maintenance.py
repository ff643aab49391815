"""Maintenance windows (Servicevindue): the quiet hours of a group, when planned and
automatic restarts are welcome.

A window is two local times in the organisation's time zone (`Group.maintenance_start`,
`maintenance_end`); the end may be past midnight (22:00–04:00 is one window that runs
into the next day). A group without its own follows the nearest group above that has
one; with none above either, it has no window.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tenancy import access, audit
from tenancy.models import Group, Organisation


@dataclass(frozen=True)
class MaintenanceWindow:
    start: time
    end: time
    owner: Group  # the group it is set on (the group itself, or one above)
    tz: zoneinfo.ZoneInfo

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"

    def inherited_by(self, group: Group) -> bool:
        return self.owner.pk != group.pk

    def contains(self, at: datetime) -> bool:
        """Whether the moment `at` falls inside the window (start included, end not)."""
        local = timezone.localtime(at, self.tz).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # runs past midnight

    def next_start(self, now: datetime | None = None) -> datetime:
        """The window's next start after `now` (today's, if still ahead), in its zone."""
        local = timezone.localtime(now or timezone.now(), self.tz)
        start = datetime.combine(local.date(), self.start, tzinfo=self.tz)
        if start <= local:
            start = datetime.combine(local.date() + timedelta(days=1), self.start, tzinfo=self.tz)
        return start


def maintenance_windows(groups) -> dict[int, MaintenanceWindow | None]:
    """The window that applies to each group (its own, else the nearest ancestor's), by
    group id: one query for any number of groups."""
    groups = list(groups)
    ids = {pk for g in groups for pk in g.ancestor_ids()}
    owners = {
        g.pk: g
        for g in Group.objects.select_related("organisation").filter(
            pk__in=ids, maintenance_start__isnull=False
        )
    }
    found: dict[int, MaintenanceWindow | None] = {}
    for group in groups:
        owner = next((owners[pk] for pk in reversed(group.ancestor_ids()) if pk in owners), None)
        found[group.pk] = owner and MaintenanceWindow(
            owner.maintenance_start, owner.maintenance_end, owner, owner.organisation.tzinfo
        )
    return found


def maintenance_window(group: Group) -> MaintenanceWindow | None:
    """The window that applies to `group`: its own, else the nearest ancestor's."""
    return maintenance_windows([group])[group.pk]


def in_maintenance_window(group: Group, at: datetime | None = None) -> bool:
    """Whether `at` (default now) falls inside the maintenance window of `group`.

    A group with no window (none of its own, none above) is never inside one.
    """
    window = maintenance_window(group)
    return window is not None and window.contains(at or timezone.now())


def outside_maintenance_window(group: Group, at: datetime | None = None) -> bool:
    """Whether `group` has a maintenance window (its own or one above) and `at` falls
    outside it: when self-healing leaves a charger that is charging someone alone. A
    group with no window is never outside one."""
    window = maintenance_window(group)
    return window is not None and not window.contains(at or timezone.now())


def _window_state(group: Group) -> dict:
    if group.maintenance_start is None:
        return {"maintenance_window": None}
    return {"maintenance_window": f"{group.maintenance_start:%H:%M}–{group.maintenance_end:%H:%M}"}


def check_window(start: time | None, end: time | None) -> None:
    """Both times or neither, and not the same time: else a ValidationError per field."""
    if start is None and end is None:
        return
    if start is None:
        raise ValidationError({"start": _("Give the time the window starts, or clear both.")})
    if end is None:
        raise ValidationError({"end": _("Give the time the window ends, or clear both.")})
    if start == end:
        raise ValidationError({"end": _("The window must end at another time than it starts.")})


@transaction.atomic
def group_maintenance_window_set(
    *, actor, group: Group, start: time | None, end: time | None, ip: str | None = None
) -> Group:
    """Set `group`'s own window (local times), or drop it with both None (follow above)."""
    Organisation.objects.select_for_update().filter(pk=group.organisation_id).first()
    try:
        group = Group.objects.select_related("organisation").get(pk=group.pk)
    except Group.DoesNotExist as exc:
        raise ValidationError(_("This group no longer exists.")) from exc
    access.clear_cache(actor)
    access.require(access.can_set_maintenance_window(actor, group))
    check_window(start, end)
    start = start.replace(second=0, microsecond=0) if start else None
    end = end.replace(second=0, microsecond=0) if end else None
    if (group.maintenance_start, group.maintenance_end) == (start, end):
        return group
    before = _window_state(group)
    group.maintenance_start, group.maintenance_end = start, end
    group.save(update_fields=["maintenance_start", "maintenance_end"])
    after = _window_state(group)
    audit.record(
        action="group.maintenance_window",
        actor=actor,
        ip=ip,
        group=group,
        obj=group,
        summary=f"{group.name}: {after['maintenance_window'] or '—'}",
        before=before,
        after=after,
    )
    return group
