"""Who may restart which chargers right now: the one place that decides.

`evaluate` is called when the confirmation window opens and again when OKAY is
posted (the world may have changed in between), and by any other entry point
(the API) through `restarts.services.restart_request_create`. `rights_lost` asks
the same rule's right-to-restart part (role and group, Business for several) once
more for jobs about to be sent, which may have waited minutes or hours.

Ids the user cannot see (other organisations, other groups, or no charger at
all) are all the same to this function: "not found". Nothing about them leaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Case, CharField, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chargers.access import manageable_chargers, visible_chargers
from chargers.models import Charger
from restarts.healing.policy import PolicyMap
from restarts.models import RestartJob, RestartRequest
from tenancy import access
from tenancy.ids import parse_id
from tenancy.models import Subscription

# Reason codes, in the order the window names them, with their human reason.
REASONS = {
    "not_found": gettext_lazy("not found"),
    "not_allowed": gettext_lazy("you may not restart them"),
    "not_connected": gettext_lazy("not connected"),
    "no_remote_restart": gettext_lazy("cannot be restarted remotely"),
    "planned": gettext_lazy("a restart is already planned"),
    "restarting": gettext_lazy("already being restarted"),
    "no_business": gettext_lazy("several at once needs a Business subscription"),
}


def reasons_text(counts: dict[str, int]) -> str:
    """ "2 not connected, 1 cannot be restarted remotely": reasons in the window's order."""
    return ", ".join(f"{counts[c]} {reason}" for c, reason in REASONS.items() if counts.get(c))


def left_out_line(counts: dict[str, int]) -> str:
    """One line: how many were left out and why ("" when none were)."""
    n = sum(counts.values())
    if not n:
        return ""
    return _("Left out: %(count)d (%(reasons)s).") % {"count": n, "reasons": reasons_text(counts)}


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
        return left_out_line({code: len(chargers) for code, chargers in self.left_out.items()})

    def _leave_out(self, code: str, charger: Charger | None) -> None:
        self.left_out.setdefault(code, []).append(charger)


def clean_ids(charger_ids: Iterable) -> list[int | None]:
    """Posted ids as ints, junk as None (it counts as "not found")."""
    return [parse_id(raw) for raw in charger_ids]


def refusal(user, *, now) -> Case:
    """The one rule, as SQL: why `user` may not restart a visible charger now ("" = may).

    The checks in the order the window names them; the last one, the Business
    subscription, counts only when several chargers are asked for, so callers
    that ask for one treat "no_business" as "". Computed in the database, so a
    selection of 10,000 is decided in one query, the same way as one of three.
    """
    manage = access.scope(user, access.MANAGE_ROLES, "group__path")
    whens = []
    if not access.can_manage_any(user):
        whens.append(When(pk__isnull=False, then=Value("not_allowed")))
    elif manage.children:  # an empty Q: a platform admin manages every charger
        whens.append(When(~manage, then=Value("not_allowed")))
    unfinished = RestartJob.objects.filter(
        charger=OuterRef("pk"), state__in=RestartJob.State.unfinished()
    )
    sub = "group__organisation__subscription__"
    business = Q(**{f"{sub}plan": Subscription.Plan.BUSINESS, f"{sub}valid_from__lte": now}) & (
        Q(**{f"{sub}valid_until__isnull": True}) | Q(**{f"{sub}valid_until__gt": now})
    )
    whens += [
        When(is_connected=False, then=Value("not_connected")),
        When(supports_remote_restart=False, then=Value("no_remote_restart")),
        When(Exists(unfinished.filter(state=RestartJob.State.PLANNED)), then=Value("planned")),
        When(Exists(unfinished), then=Value("restarting")),
        When(business, then=Value("")),
    ]
    return Case(*whens, default=Value("no_business"), output_field=CharField())


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
    visible = list(
        asked.select_related("group__organisation")
        .annotate(refusal=refusal(user, now=now))
        .order_by("name", "pk")
    )
    if unknown is None:
        unknown = len(ids) - len(visible)
    result.left_out.update({"not_found": [None] * unknown} if unknown else {})

    several = len(visible) > 1
    for charger in visible:
        code = charger.refusal
        if code == "no_business" and not several:
            code = ""
        if code:
            result._leave_out(code, charger)
        else:
            result.eligible.append(Eligible(charger=charger, charging=charger.session_active))
    return result


def lacks_business(charger: Charger, *, several: bool, now) -> bool:
    """Restarting more than one charger at once needs its organisation's Business plan."""
    return several and not charger.group.organisation.has_active_business(now)


def rights_lost(jobs: Iterable[RestartJob], *, now=None) -> dict[int, str]:
    """{job id: reason code} for the jobs whose requester may no longer restart the charger.

    The right-to-restart part of `evaluate`, asked again when a job is finally sent:
    the requester (still an active user) is admin or super-admin of the charger's
    group (`manageable_chargers`), and a request for several chargers still has an
    active Business subscription. Connection and the like are the sender's concern.
    Codes: "not_allowed", "no_business" (REASONS). A few queries per requester.
    """
    now = now or timezone.now()
    jobs = list(jobs)
    chargers = {
        c.pk: c
        for c in Charger.objects.select_related("group__organisation__subscription").filter(
            pk__in={job.charger_id for job in jobs}
        )
    }
    by_user: dict[int | None, list[RestartJob]] = {}
    for job in jobs:
        by_user.setdefault(job.request.requested_by_id, []).append(job)
    lost: dict[int, str] = {}
    for user_id, user_jobs in by_user.items():
        user = user_jobs[0].request.requested_by if user_id else None
        if user_id is None:
            # Nobody asked: self-healing did, and may still if the group's policy is on.
            lost.update(_automatic_rights_lost(user_jobs, chargers))
            continue
        if user is None or not user.is_active:
            lost.update(dict.fromkeys((job.pk for job in user_jobs), "not_allowed"))
            continue
        manageable = set(
            manageable_chargers(user)
            .filter(pk__in=[job.charger_id for job in user_jobs])
            .values_list("pk", flat=True)
        )
        for job in user_jobs:
            # As on OKAY: "several" is what was asked for, not what was eligible.
            several = len(set(job.request.asked_ids)) > 1
            if job.charger_id not in manageable:
                lost[job.pk] = "not_allowed"
            elif lacks_business(chargers[job.charger_id], several=several, now=now):
                lost[job.pk] = "no_business"
    return lost


def _automatic_rights_lost(jobs: list[RestartJob], chargers: dict) -> dict[int, str]:
    """Self-healing's jobs keep their right while the policy over the charger is on."""
    policies = PolicyMap()
    lost = {}
    for job in jobs:
        policy = policies.for_path(chargers[job.charger_id].group.path)
        automatic = job.request.source == RestartRequest.Source.AUTO
        if not (automatic and policy and policy.enabled):
            lost[job.pk] = "not_allowed"
    return lost


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
