"""Housekeeping for what the gateway records about chargers (run by the Celery beat)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from chargers.models import ChargerEvent

logger = logging.getLogger(__name__)

PRUNE_BATCH = 10_000


@shared_task(name="chargers.prune_history", ignore_result=True)
def prune_history() -> int:
    """Delete connection history older than CHARGER_HISTORY_DAYS, a batch at a time
    (short statements: the gateway keeps inserting while this runs)."""
    cutoff = timezone.now() - timedelta(days=settings.CHARGER_HISTORY_DAYS)
    deleted = 0
    while True:
        ids = list(
            ChargerEvent.objects.filter(at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            break
        deleted += ChargerEvent.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        logger.info("pruned %d charger history events older than %s", deleted, cutoff)
    return deleted
