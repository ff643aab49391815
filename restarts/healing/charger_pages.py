"""What self-healing adds to a charger's page (through `chargers.extensions`): its open
case, or the last one that ended without healing it (this week), with what was tried."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from chargers import extensions
from restarts.healing.models import HealingCase
from restarts.healing.notify import attempts_in_words


def charger_page(charger) -> dict:
    week = timezone.now() - timedelta(days=7)
    case = (
        charger.healing_cases.filter(
            Q(outcome="") | Q(outcome__in=HealingCase.NOT_HEALED, closed_at__gte=week)
        )
        .order_by("-opened_at", "-pk")
        .first()
    )
    return {"healing_case": case, "healing_attempts": attempts_in_words(case) if case else []}


ROWS = extensions.Rows(
    annotate=lambda chargers: chargers, decorate=lambda chargers: None, detail=charger_page
)


def register() -> None:
    extensions.register_rows(ROWS)
