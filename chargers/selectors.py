"""Reads for the Opladere page: the user's chargers, filtered, searched and sorted.

The page shows restart state too; restarts add that (and the "restarting" status
filter) through `chargers.extensions`, so this floor never imports them.
"""

from __future__ import annotations

from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from chargers import extensions
from chargers.access import visible_chargers
from chargers.extensions import StatusFilter
from chargers.models import Charger
from tenancy import access
from tenancy.ids import parse_id

# The page's own status filters; a higher app may add more (extensions).
OWN_STATUS_FILTERS = {
    "connected": StatusFilter(_("Connected"), Q(is_connected=True)),
    "disconnected": StatusFilter(_("Disconnected"), Q(is_connected=False)),
    "charging": StatusFilter(_("Charging"), Q(session_active=True)),
    "faulted": StatusFilter(_("Faulted"), Q(last_status="Faulted")),
    "no_password": StatusFilter(_("Without OCPP password"), Q(password_hash="")),
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


def status_filters() -> dict[str, StatusFilter]:
    """Every status the page filters by, in the order it lists them."""
    return extensions.with_registered_filters(OWN_STATUS_FILTERS)


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
    status = status_filters().get(params.get("status") or "")
    if status:
        qs = qs.filter(status.condition)
    return qs.order_by(*_ordering(clean_sort(params.get("sort"))))
