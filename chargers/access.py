"""Which chargers a user may see and manage: tenancy's group scope applied to chargers.

A charger belongs to one group, and a role in a group reaches the chargers of that
group and of every group below it (`tenancy.access.scope` over `group__path`).
Views fetch chargers through these, so a charger outside the user's groups is a
404, the same as one that does not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from chargers.models import Charger
from tenancy import access


def visible_chargers(user) -> QuerySet[Charger]:
    return Charger.objects.filter(access.scope(user, access.SEE_ROLES, "group__path"))


def manageable_chargers(user) -> QuerySet[Charger]:
    """Chargers the user may restart, edit and move."""
    return Charger.objects.filter(access.scope(user, access.MANAGE_ROLES, "group__path"))


def get_charger_for_user(user, pk) -> Charger:
    """A charger the user may see, or 404 as if it did not exist."""
    try:
        return visible_chargers(user).select_related("group__organisation").get(pk=pk)
    except (Charger.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def get_manageable_charger(user, pk) -> Charger:
    """A charger the user may edit: 404 if they cannot see it, 403 if they only see it."""
    charger = get_charger_for_user(user, pk)
    access.require(access.can_manage_chargers_in(user, charger.group))
    return charger
