"""Who may restart which chargers right now: the one function that decides.

`evaluate` is called when the confirmation window opens and again when OKAY is
posted (the world may have changed in between), and by any other entry point
(the API) through `restarts.services.restart_request_create`.

Ids the user cannot see (other organisations, other groups, or no charger at
all) are all the same to this function: "not found". Nothing about them leaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chargers.access import manageable_chargers, visible_chargers
from chargers.models import Charger
from restarts.models import RestartJob
from tenancy.ids import parse_id

# Reason codes, in the order the window names them, with their human reason.
REASONS = {
    "not_found": gettext_lazy("not found"),
    "not_allowed": gettext_lazy("you may not restart them"),
    "not_connected": gettext_lazy("not connected"),
    "no_remote_restart": gettext_lazy("cannot be restarted remotely"),
    "restarting": gettext_lazy("already being restarted"),
    "no_business": gettext_lazy("several at once needs a Business subscription"),
}


@dataclass(frozen=True)
class Eligible:
    charger: Charger
    charging: bool


@dataclass
class Evaluation:
    eligible: list[Eligible] = field(default_factory=list)
    # reason code → chargers left out for it (ids the user cannot see count under
    # "not_found" with no charger attached)
    left_out: dict[str, list[Charger | None]] = field(default_factory=dict)

    @property
    def charger_ids(self) -> list[int]:
        return [e.charger.pk for e in self.eligible]

    @property
    def any_charging(self) -> bool:
        return any(e.charging for e in self.eligible)

    @property
    def left_out_count(self) -> int:
        return sum(len(v) for v in self.left_out.values())

    def left_out_reasons(self) -> list[tuple[str, int, str]]:
        """(code, how many, translated reason) in a fixed order."""
        return [
            (code, len(self.left_out[code]), str(REASONS[code]))
            for code in REASONS
            if self.left_out.get(code)
        ]

    def left_out_summary(self) -> str:
        """One line: how many were left out and why."""
        n = self.left_out_count
        if not n:
            return ""
        parts = ", ".join(f"{count} {reason}" for _code, count, reason in self.left_out_reasons())
        return _("Left out: %(count)d (%(reasons)s).") % {"count": n, "reasons": parts}

    def _leave_out(self, code: str, charger: Charger | None) -> None:
        self.left_out.setdefault(code, []).append(charger)


def clean_ids(charger_ids: Iterable) -> list[int | None]:
    """Posted ids as ints, junk as None (it counts as "not found")."""
    return [parse_id(raw) for raw in charger_ids]


def evaluate(user, chargers: Iterable | QuerySet, *, now=None) -> Evaluation:
    """Split the asked chargers into those `user` may restart now and those left out.

    `chargers` is a list of ids (as posted: strings are fine, junk counts as not
    found) or a queryset of chargers (e.g. everything matching a filter).
    """
    now = now or timezone.now()
    result = Evaluation()

    if isinstance(chargers, QuerySet):
        asked = visible_chargers(user).filter(pk__in=chargers.values("pk"))
        unknown = 0
    else:
        ids = list(dict.fromkeys(clean_ids(chargers)))
        asked = visible_chargers(user).filter(pk__in=[i for i in ids if i is not None])
        unknown = None  # known after the query
    unfinished = RestartJob.objects.filter(
        charger=OuterRef("pk"), state__in=RestartJob.State.unfinished()
    )
    visible = list(
        asked.select_related("group__organisation__subscription")
        .annotate(restarting=Exists(unfinished))
        .order_by("name", "pk")
    )
    if unknown is None:
        unknown = len(ids) - len(visible)
    result.left_out.update({"not_found": [None] * unknown} if unknown else {})

    manageable = set(
        manageable_chargers(user).filter(pk__in=asked.values("pk")).values_list("pk", flat=True)
    )
    several = len(visible) > 1
    for charger in visible:
        if charger.pk not in manageable:
            code = "not_allowed"
        elif not charger.is_connected:
            code = "not_connected"
        elif not charger.supports_remote_restart:
            code = "no_remote_restart"
        elif charger.restarting:
            code = "restarting"
        elif several and not charger.group.organisation.has_active_business(now):
            code = "no_business"
        else:
            result.eligible.append(Eligible(charger=charger, charging=charger.session_active))
            continue
        result._leave_out(code, charger)
    return result


def evaluate_automatic(chargers: QuerySet) -> Evaluation:
    """The same rule for a restart the portal asks for by itself (self-healing).

    No person asks, so there is no role to check and no visibility: the policy of the
    charger's group stands in for the admin's decision. The charger must still be
    connected, restartable remotely and not restarting already. One charger at a time,
    so no Business subscription is needed (as for a person's single restart).
    """
    result = Evaluation()
    unfinished = RestartJob.objects.filter(
        charger=OuterRef("pk"), state__in=RestartJob.State.unfinished()
    )
    for charger in chargers.annotate(restarting=Exists(unfinished)).order_by("pk"):
        if not charger.is_connected:
            code = "not_connected"
        elif not charger.supports_remote_restart:
            code = "no_remote_restart"
        elif charger.restarting:
            code = "restarting"
        else:
            result.eligible.append(Eligible(charger=charger, charging=charger.session_active))
            continue
        result._leave_out(code, charger)
    return result
