"""Reads for the Opladere page: the user's chargers, filtered, searched and sorted.

The page shows restart state too; restarts add that (and the "restarting" status
filter) through `chargers.extensions`, so this floor never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chargers import extensions, pictures
from chargers.access import visible_chargers
from chargers.extensions import StatusFilter
from chargers.models import Charger, ChargerEvent
from chargers.statuses import FAULTED, OCPP_STATUSES
from tenancy import access
from tenancy.ids import parse_id

# The page's own status filters; a higher app may add more (extensions).
OWN_STATUS_FILTERS = {
    "connected": StatusFilter(_("Connected"), Q(is_connected=True)),
    "disconnected": StatusFilter(_("Disconnected"), Q(is_connected=False)),
    "charging": StatusFilter(_("Charging"), Q(session_active=True)),
    "faulted": StatusFilter(OCPP_STATUSES[FAULTED].label, Q(last_status=FAULTED)),
    "no_password": StatusFilter(
        _("Without OCPP password"), Q(password_hash="", security_profile=1)
    ),
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


# Sort columns that may be empty: never-seen chargers first going up, last going down.
NULLABLE = {"last_seen_at"}


def _ordering(sort: str):
    """The ORDER BY of a sort. Only nullable columns say where NULLs go: a NULLS clause on
    a column that has none keeps PostgreSQL from reading it off an index (the Opladere
    page's default sort by name was a sort of every visible charger on each poll)."""
    descending = sort.startswith("-")
    order = []
    for f in SORTS[sort.removeprefix("-")]:
        if f.name in NULLABLE:
            order.append(f.desc(nulls_last=True) if descending else f.asc(nulls_first=True))
        else:
            order.append(f.desc() if descending else f.asc())
    return order


def charger_filter(user, params) -> QuerySet[Charger]:
    """The chargers `user` may see that match `params` (q, group, status, ocpp_status, sort).

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
    ocpp_status = params.get("ocpp_status") or ""
    if ocpp_status in OCPP_STATUSES:
        qs = qs.filter(last_status=ocpp_status)
    return qs.order_by(*_ordering(clean_sort(params.get("sort"))))


STRIP_DAYS = 7


def charger_strip(charger, now=None) -> pictures.Strip:
    """The charger's last week as a strip: two indexed queries for its history, and what
    higher floors draw on it (restarts, through chargers.extensions)."""
    now = now or timezone.now()
    since = now - timedelta(days=STRIP_DAYS)
    history = ChargerEvent.objects.filter(charger=charger)
    events = list(
        history.filter(at__gte=since, at__lte=now).order_by("at", "pk").values_list("at", "kind")
    )
    before = history.filter(at__lt=since).order_by("-at", "-pk").values_list("kind", flat=True)
    tz = timezone.get_current_timezone()
    first = timezone.localtime(since, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    day_starts = [first + timedelta(days=n) for n in range(1, STRIP_DAYS + 2)]
    return pictures.connection_strip(
        events=events,
        before=before.first(),
        restarts=extensions.timeline(charger, since, now),
        now=now,
        days=STRIP_DAYS,
        day_starts=day_starts,
    )


GLANCE = ("connected", "disconnected", "faulted", "restarting")


@dataclass(frozen=True)
class GlanceItem:
    key: str
    label: str
    count: int
    query: str  # the list filtered by this status (the group filter kept)


def fleet_glance(user, params) -> list[GlanceItem]:
    """The visible fleet (in the chosen group) by status, in ONE aggregate query; each
    count is what its link lists."""
    filters = status_filters()
    keys = [key for key in GLANCE if key in filters]
    group = params.get("group") or ""
    chargers = charger_filter(user, {"group": group}).order_by()
    counts = chargers.aggregate(
        **{
            key: Count(
                "pk",
                filter=filters[key].condition
                if isinstance(filters[key].condition, Q)
                else Q(filters[key].condition),
            )
            for key in keys
        }
    )
    items = []
    for key in keys:
        query = QueryDict(mutable=True)
        if group:
            query["group"] = group
        query["status"] = key
        items.append(GlanceItem(key, filters[key].label, counts[key], query.urlencode()))
    return items
