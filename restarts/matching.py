"""A selection of thousands: "all matching the filter", minus the chargers removed by hand.

The confirmation window of such a selection does not list one row per charger: it
summarises per group (how many will restart, how many are left out and why) from one
aggregate query over `eligibility.refusal`, and pages through the ones that will
restart, 50 at a time, searchable, to check and remove. OKAY posts the filter and the
removals, never the ids; `restarts.services` evaluates the filter again under the
user's permissions (`charger_filter` reads only what the user may see).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from chargers.models import Charger
from chargers.selectors import charger_filter
from restarts.eligibility import left_out_line, reasons_text, refusal
from tenancy.ids import parse_id
from tenancy.models import Group

# The filter's own parameters, as the Opladere page names them; nothing else is read.
FILTER_PARAMS = ("q", "group", "status", "ocpp_status")
WINDOW_PAGE_SIZE = 50
# More removals than a person clicks away in one window. It stays below Django's
# DATA_UPLOAD_MAX_NUMBER_FIELDS (10,000 here), so a bigger list gets this window's own
# reason, not Django's generic 400 for too many fields.
MAX_REMOVALS = 9_000


class BadRemovals(ValueError):
    """The removals posted are not a list of charger ids."""


def filter_params(params: Mapping) -> dict[str, str]:
    """The filter as posted, only its own keys, as plain strings."""
    return {key: str(params.get(key) or "") for key in FILTER_PARAMS if params.get(key)}


def clean_removals(raw: Iterable) -> set[int]:
    """Removed ids as ints; junk or too many is refused (BadRemovals), never guessed."""
    raw = list(raw)
    if len(raw) > MAX_REMOVALS:
        raise BadRemovals(_("Too many chargers removed at once."))
    ids = {parse_id(value) for value in raw}
    if None in ids:
        raise BadRemovals(_("The removed chargers are not valid charger ids."))
    return ids  # type: ignore[return-value]


def matching(user, params: Mapping, removed: Iterable[int] = (), *, now=None) -> QuerySet[Charger]:
    """The chargers `user` may see that match the filter, minus `removed`, each with its
    `refusal` ("" = will restart; "no_business" counts only for several)."""
    now = now or timezone.now()
    qs = charger_filter(user, filter_params(params)).order_by()
    removed = list(removed)
    if removed:
        qs = qs.exclude(pk__in=removed)
    return qs.annotate(refusal=refusal(user, now=now))


def will_restart(qs: QuerySet[Charger], *, several: bool) -> QuerySet[Charger]:
    """Of an annotated `matching` queryset, the chargers that will restart."""
    return qs.filter(refusal__in=[""] if several else ["", "no_business"])


@dataclass
class GroupLine:
    group: Group | None  # None: the whole selection on one line
    restart: int = 0
    charging: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def left_out_count(self) -> int:
        return sum(self.left_out.values())

    def reasons(self) -> str:
        return reasons_text(self.left_out)


@dataclass
class Summary:
    groups: list[GroupLine]
    total: int  # matching and visible, before removals

    @property
    def several(self) -> bool:
        return self.total > 1

    @property
    def restart(self) -> int:
        return sum(line.restart for line in self.groups)

    @property
    def charging(self) -> int:
        return sum(line.charging for line in self.groups)

    @property
    def left_out(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.groups:
            for code, n in line.left_out.items():
                out[code] = out.get(code, 0) + n
        return out

    @property
    def left_out_count(self) -> int:
        return sum(self.left_out.values())

    def left_out_summary(self) -> str:
        return left_out_line(self.left_out)


def summarise(qs: QuerySet[Charger]) -> Summary:
    """Per group, how many of an annotated `matching` queryset restart and how many are
    left out and why: one aggregate query, and one for the groups' names."""
    rows = list(
        qs.values("group_id", "refusal").annotate(
            n=Count("pk"), charging=Count("pk", filter=Q(session_active=True))
        )
    )
    total = sum(row["n"] for row in rows)
    several = total > 1
    groups = Group.objects.in_bulk({row["group_id"] for row in rows})
    lines: dict[int, GroupLine] = {}
    for row in rows:
        line = lines.setdefault(row["group_id"], GroupLine(groups[row["group_id"]]))
        code = row["refusal"]
        if code == "" or (code == "no_business" and not several):
            line.restart += row["n"]
            line.charging += row["charging"]
        else:
            line.left_out[code] = line.left_out.get(code, 0) + row["n"]
    ordered = sorted(lines.values(), key=lambda line: (line.group.path, line.group.pk))
    return Summary(groups=ordered, total=total)


def restart_page(qs: QuerySet[Charger], *, several: bool, find: str = "", page=None) -> Page:
    """One page of the chargers that will restart, by name, searched by name or id."""
    chosen = will_restart(qs, several=several)
    find = (find or "").replace("\x00", "").strip()
    if find:
        chosen = chosen.filter(Q(name__icontains=find) | Q(charge_point_id__icontains=find))
    chosen = chosen.select_related("group").order_by("name", "pk")
    return Paginator(chosen, WINDOW_PAGE_SIZE).get_page(page)
