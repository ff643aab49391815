"""What the recorder tells the rest of the portal once a batch of facts is written: the
chargers.signals, sent robustly (a failing receiver is logged, the gateway goes on)."""

from __future__ import annotations

import logging
from datetime import datetime

from chargers import signals
from chargers.models import Charger
from ocpp_gateway import history, sessions

logger = logging.getLogger("ocpp_gateway.recorder")


def _send(signal, **kwargs) -> None:
    history.note_signal(signal, kwargs)
    for receiver, result in signal.send_robust(sender=Charger, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "signal receiver %r failed for charger %s",
                receiver,
                kwargs.get("charger_id"),
                exc_info=result,
            )


def _connected_signal(pk: int, token: str, at: datetime, ocpp_version: str, *_security) -> None:
    _send(signals.charger_connected, charger_id=pk, at=at, connection_token=token)


def _disconnected_signal(pk: int, token: str, at: datetime) -> None:
    logger.info("charger %s disconnected", pk)
    _send(signals.charger_disconnected, charger_id=pk, at=at, connection_token=token)


def _booted_signal(
    pk: int, at: datetime, reason: str, facts: dict[str, str], connected_at=None
) -> None:
    _send(
        signals.charger_booted,
        charger_id=pk,
        at=at,
        reason=reason,
        connected_at=connected_at,
        in_batch=True,
    )


def _boots_signal(applied: list[tuple]) -> None:
    """Every boot a write applied, as one signal: a storm's thousand boots are decided
    by its listeners in a few statements, not three per charger."""
    if not applied:
        return
    boots = [
        {"charger_id": pk, "at": at, "reason": reason, "connected_at": connected_at}
        for _kind, pk, at, reason, _facts, *rest in applied
        for connected_at in [rest[0] if rest else None]
    ]
    for receiver, result in signals.chargers_booted.send_robust(sender=Charger, boots=boots):
        if isinstance(result, Exception):
            logger.error(
                "signal receiver %r failed for %d boots", receiver, len(boots), exc_info=result
            )


def _session_signal(
    pk: int, at: datetime, op: str, key: str, transaction_id: str, active: bool
) -> None:
    _send(
        signals.charger_session_changed,
        charger_id=pk,
        at=at,
        active=active,
        connector=key if op in (sessions.START, sessions.SEEN, sessions.END) else "",
    )


def _no_signal(*event) -> None:
    """Facts nobody listens for: written, nothing to tell."""
