"""Reads for the API, always through portal.access (what the user may see)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from chargers.models import Charger
from portal import access

SORTS = {
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "charge_point_id": ("charge_point_id",),
    "-charge_point_id": ("-charge_point_id",),
    "group": ("group__name", "name", "pk"),
    "-group": ("-group__name", "-name", "-pk"),
    "last_seen": ("last_seen_at", "pk"),
    "-last_seen": ("-last_seen_at", "-pk"),
}


def charger_list(
    user,
    *,
    q: str = "",
    group: int | None = None,
    connected: bool | None = None,
    ocpp_status: str = "",
    sort: str = "name",
) -> QuerySet[Charger]:
    """Visible chargers, filtered as on the Opladere page: search, group (with its
    sub-groups), connection and OCPP status, in a stable order."""
    qs = access.visible_chargers(user).select_related("group")
    if q := q.strip():
        qs = qs.filter(
            Q(name__icontains=q) | Q(charge_point_id__icontains=q) | Q(serial_number__icontains=q)
        )
    if group is not None:
        path = access.visible_groups(user).filter(pk=group).values_list("path", flat=True).first()
        qs = qs.filter(group__path__startswith=path) if path else qs.none()
    if connected is not None:
        qs = qs.filter(is_connected=connected)
    if ocpp_status:
        qs = qs.filter(last_status=ocpp_status)
    return qs.order_by(*SORTS.get(sort, SORTS["name"]))


def groups_with_chargers(user):
    """The visible groups in tree order, each with its own (visible) chargers."""
    groups = list(access.visible_groups(user).select_related("organisation").order_by("path"))
    by_group: dict[int, list[Charger]] = {g.pk: [] for g in groups}
    for charger in access.visible_chargers(user).order_by("name", "pk"):
        by_group.setdefault(charger.group_id, []).append(charger)
    return [(g, by_group[g.pk]) for g in groups]
