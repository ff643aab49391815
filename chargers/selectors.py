"""Reads for the Opladere page: the user's chargers, filtered, searched and sorted.

The page shows restart state too, so this read layer (not the models) knows restarts.
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from chargers.access import visible_chargers
from chargers.models import Charger
from restarts.models import RestartJob
from tenancy import access
from tenancy.ids import parse_id

STATUS_FILTERS = {
    "connected": _("Connected"),
    "disconnected": _("Disconnected"),
    "charging": _("Charging"),
    "restarting": _("Restarting"),
    "faulted": _("Faulted"),
}

SORTS = {
    "name": (F("name"), F("pk")),
    "id": (F("charge_point_id"),),
    "group": (F("group__name"), F("name"), F("pk")),
    "model": (F("model"), F("name"), F("pk")),
    "firmware": (F("firmware_version"), F("name"), F("pk")),
    "connection": (F("is_connected"), F("name"), F("pk")),
    "status": (F("last_status"), F("name"), F("pk")),
    "seen": (F("last_seen_at"), F("pk")),
}
DEFAULT_SORT = "name"


def clean_sort(raw: str | None) -> str:
    key = (raw or "").removeprefix("-")
    return raw if key in SORTS else DEFAULT_SORT


def _ordering(sort: str):
    descending = sort.startswith("-")
    return [
        f.desc(nulls_last=True) if descending else f.asc(nulls_first=True)
        for f in SORTS[sort.removeprefix("-")]
    ]


def charger_filter(user, params) -> QuerySet[Charger]:
    """The chargers `user` may see that match `params` (q, group, status, sort).

    Unknown or foreign group ids filter to nothing rather than failing.
    """
    qs = visible_chargers(user)
    # PostgreSQL text cannot hold NUL: a pasted one is dropped, not a 500.
    q = (params.get("q") or "").replace("\x00", "").strip()
    if q:
        qs = qs.filter(
            Q(name__icontains=q) | Q(charge_point_id__icontains=q) | Q(serial_number__icontains=q)
        )
    group_id = params.get("group") or ""
    if group_id:
        visible = access.visible_groups(user)
        pk = parse_id(group_id)
        group = visible.filter(pk=pk).first() if pk else None
        qs = qs.filter(group__path__startswith=group.path) if group else qs.none()
    status = params.get("status") or ""
    if status == "connected":
        qs = qs.filter(is_connected=True)
    elif status == "disconnected":
        qs = qs.filter(is_connected=False)
    elif status == "charging":
        qs = qs.filter(session_active=True)
    elif status == "faulted":
        qs = qs.filter(last_status="Faulted")
    elif status == "restarting":
        unfinished = RestartJob.objects.filter(
            charger=OuterRef("pk"), state__in=RestartJob.UNFINISHED
        )
        qs = qs.filter(Exists(unfinished))
    return qs.order_by(*_ordering(clean_sort(params.get("sort"))))
