"""A charger's connection history (chargers.ChargerEvent), as the recorder applies it.

The recorder's writer thread notes here what a write actually applied (the signals it
sends for connects, disconnects and boots; fault flips) and, when that write is done,
inserts them in one statement. History never holds up the chargers' own state: a
failed insert is logged and dropped.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.db import IntegrityError, transaction

from chargers import signals
from chargers.models import Charger, ChargerEvent

logger = logging.getLogger("ocpp_gateway.recorder")

BATCH = 2000
_KINDS = {
    signals.charger_connected: ChargerEvent.Kind.CONNECTED,
    signals.charger_disconnected: ChargerEvent.Kind.DISCONNECTED,
    signals.charger_booted: ChargerEvent.Kind.BOOTED,
}
_state = threading.local()


def note(charger_id: int, at: datetime, kind: str, detail: str = "") -> None:
    rows = getattr(_state, "rows", None)
    if rows is None:
        rows = _state.rows = []
    rows.append(ChargerEvent(charger_id=charger_id, at=at, kind=kind, detail=detail[:64]))


def note_signal(signal, kwargs: dict) -> None:
    """A recorder signal about to be sent: the applied event it stands for."""
    kind = _KINDS.get(signal)
    if kind is not None:
        note(kwargs["charger_id"], kwargs["at"], kind, kwargs.get("reason") or "")


def write() -> None:
    """Insert what this thread noted since the last call."""
    rows, _state.rows = getattr(_state, "rows", None) or [], []
    if not rows:
        return
    try:
        try:
            with transaction.atomic():  # a savepoint inside a caller's transaction
                ChargerEvent.objects.bulk_create(rows, batch_size=BATCH)
        except IntegrityError:
            # A charger deleted in the meantime: keep the history of those still there.
            alive = set(
                Charger.objects.filter(pk__in={r.charger_id for r in rows}).values_list(
                    "pk", flat=True
                )
            )
            ChargerEvent.objects.bulk_create(
                [r for r in rows if r.charger_id in alive], batch_size=BATCH
            )
    except Exception as exc:
        logger.warning("%d charger history events not recorded: %s", len(rows), exc)
