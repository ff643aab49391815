"""Reads for the Selvhelbredelse page and the API: what self-healing did in a group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from restarts.healing.models import HealingCase
from tenancy.models import Group

Outcome = HealingCase.Outcome
WEEK = timedelta(days=7)
# Success rates count the cases of this long.
RATE_PERIOD = timedelta(days=30)


def cases_in(group: Group):
    return HealingCase.objects.filter(charger__group__path__startswith=group.path)


def acted_on(group: Group, now=None) -> list[HealingCase]:
    """Cases opened in the last 7 days in `group` and below, newest first."""
    now = now or timezone.now()
    return list(
        cases_in(group)
        .filter(opened_at__gte=now - WEEK)
        .select_related("charger", "charger__group")
        .order_by("-opened_at", "-pk")[:200]
    )


def gave_up_on(group: Group, now=None) -> list[HealingCase]:
    """Cases of the last 7 days that ended without a healthy charger (gave up, a limit)."""
    now = now or timezone.now()
    return list(
        cases_in(group)
        .filter(outcome__in=HealingCase.NOT_HEALED, closed_at__gte=now - WEEK)
        .select_related("charger", "charger__group")
        .order_by("-closed_at", "-pk")[:200]
    )


@dataclass(frozen=True)
class Rate:
    model: str
    firmware_version: str
    healed: int
    not_healed: int

    @property
    def cases(self) -> int:
        return self.healed + self.not_healed

    @property
    def percent(self) -> int:
        return round(100 * self.healed / self.cases) if self.cases else 0


def success_rates(group: Group, now=None) -> list[Rate]:
    """Per charger model and firmware (as they were when found stuck): cases of the last
    30 days that ended healed against those that ended without (cancelled and stopped
    ones count for neither)."""
    now = now or timezone.now()
    rows = (
        cases_in(group)
        .filter(closed_at__gte=now - RATE_PERIOD)
        .values("model", "firmware_version")
        .annotate(
            healed=Count("pk", filter=Q(outcome__in=[Outcome.HEALED, Outcome.RECOVERED])),
            not_healed=Count("pk", filter=Q(outcome__in=HealingCase.NOT_HEALED)),
        )
        .order_by("model", "firmware_version")
    )
    return [Rate(**row) for row in rows if row["healed"] or row["not_healed"]]
