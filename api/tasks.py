"""Housekeeping for the API: rotated refresh tokens do not pile up."""

from __future__ import annotations

import logging

from celery import shared_task

from api import tokens

log = logging.getLogger(__name__)


@shared_task(name="api.prune_refresh_tokens", ignore_result=True)
def prune_refresh_tokens() -> None:
    removed, families = tokens.prune()
    if removed or families:
        log.info("pruned %d expired refresh tokens and %d ended sign-ins", removed, families)
