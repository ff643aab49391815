"""Reads for the Wallbox-compatible part, always through tenancy.access and chargers.access."""

from __future__ import annotations

from chargers.access import visible_chargers
from chargers.models import Charger
from restarts.models import RestartJob
from restarts.selectors import with_latest_restart
from tenancy import access


def groups_with_chargers(user):
    """The visible groups in tree order, each with its own (visible) chargers.

    Each charger is annotated with `restart_state` (its latest restart job's state)."""
    groups = list(access.visible_groups(user).select_related("organisation").order_by("path"))
    by_group: dict[int, list[Charger]] = {g.pk: [] for g in groups}
    for charger in with_latest_restart(visible_chargers(user)).order_by("name", "pk"):
        by_group.setdefault(charger.group_id, []).append(charger)
    return [(g, by_group[g.pk]) for g in groups]


def is_resetting(charger) -> bool:
    """Whether the charger counts as restarting (the state table's `restarting`)."""
    return RestartJob.objects.filter(
        charger=charger, state__in=RestartJob.State.restarting()
    ).exists()
