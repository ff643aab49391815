"""What the gateway writes to the database about chargers, off the event loop and batched.

The event loop only appends to in-memory buffers. A flusher hands them, about once a
second (at once after a boot), to a single database thread that writes them:

- events whose order matters (connected, disconnected, booted, session started/ended)
  in the order they happened for each charger: on PostgreSQL one set-based UPDATE per
  kind of event and "layer" (bulk_writes.py), elsewhere one small UPDATE each;
- the frequent ones coalesced: every charger's latest status in one UPDATE and every
  charger's last-seen time in another.

After each write the matching signal from ``chargers.signals`` is sent with
``send_robust``: a failing receiver is logged and never reaches the gateway.

"Disconnected" is a compare-and-set on ``Charger.connection_token``: the socket that
closes only marks the charger disconnected if it still owns it, so a second connection
that replaced it stays connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
    transaction,
)
from django.db.models import Q
from django.utils import timezone

from chargers import signals
from chargers.models import Charger, ChargerEvent
from ocpp_gateway import bulk_writes, history, sessions
from ocpp_gateway.recorder_signals import (
    _booted_signal,
    _boots_signal,
    _connected_signal,
    _disconnected_signal,
    _no_signal,
    _send,
    _session_signal,
)

logger = logging.getLogger("ocpp_gateway.recorder")

# How long a write waits after a boot for the rest of its burst.
URGENT_GATHER = 0.1


@dataclass
class _Buffers:
    events: list[tuple] = field(default_factory=list)
    seen: dict[int, datetime] = field(default_factory=dict)
    statuses: dict[int, tuple[str, int | None, datetime]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.events or self.seen or self.statuses)


class Recorder:
    """Buffers charger facts on the loop; writes them from one database thread."""

    def __init__(self, flush_interval: float = 1.0):
        self.flush_interval = flush_interval
        self._buffers = _Buffers()
        # One thread for every database write: writes stay in order and the gateway
        # holds one connection for them. Handshake lookups use their own thread.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-db-write")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-db-read")
        self._flush_lock = asyncio.Lock()
        # A boot waits for no tick: it confirms a restart and lets a waiting Reset go.
        self._urgent = asyncio.Event()

    # -- buffering, on the event loop -------------------------------------------------
    def seen(self, charger_id: int, at: datetime) -> None:
        self._buffers.seen[charger_id] = at

    def connected(
        self,
        charger_id: int,
        token: str,
        at: datetime,
        ocpp_version: str,
        security_profile: int = 1,
        certificate_expires_at: datetime | None = None,
    ) -> None:
        self._buffers.events.append(
            (
                "connected",
                charger_id,
                token,
                at,
                ocpp_version,
                security_profile,
                certificate_expires_at,
            )
        )

    def disconnected(self, charger_id: int, token: str, at: datetime) -> None:
        self._buffers.events.append(("disconnected", charger_id, token, at))

    def booted(
        self,
        charger_id: int,
        at: datetime,
        reason: str,
        facts: dict[str, str],
        connected_at: datetime | None = None,
    ) -> None:
        """A BootNotification at `at` on the socket opened at `connected_at`."""
        self._buffers.events.append(("booted", charger_id, at, reason, facts, connected_at))
        self._urgent.set()

    def session(
        self, charger_id: int, at: datetime, op: str, key: str = "", transaction_id: str = ""
    ) -> None:
        """A change to the charger's sessions (ocpp_gateway/sessions.py: op on a connector)."""
        self._buffers.events.append(("session", charger_id, at, op, key, transaction_id))

    def status(self, charger_id: int, at: datetime, status: str, connector_id: int | None) -> None:
        self._buffers.statuses[charger_id] = (status, connector_id, at)

    def firmware(self, charger_id: int, at: datetime, status: str) -> None:
        """A FirmwareStatusNotification (Downloading, Installing, Installed, …)."""
        self._buffers.events.append(("firmware", charger_id, at, status))

    def fault(self, charger_id: int, at: datetime, faulted: bool) -> None:
        """Any connector of the charger went Faulted (True) or none is any more (False)."""
        self._buffers.events.append(("fault", charger_id, at, faulted))

    # -- running ----------------------------------------------------------------------
    async def run(self) -> None:
        """Flush forever (cancel to stop; flush() once more after): every flush_interval,
        or URGENT_GATHER after a boot (a busy writer batches more per write by itself)."""
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                if failures:  # the database is away: retried at the tick, not per boot
                    await asyncio.sleep(self.flush_interval)
                else:
                    await asyncio.wait_for(self._urgent.wait(), self.flush_interval)
                    await asyncio.sleep(min(URGENT_GATHER, self.flush_interval))
            self._urgent.clear()
            try:
                await self.flush()
            except TRANSIENT_ERRORS as exc:
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    logger.warning(
                        "database unavailable, %d charger events kept for the next try: %s",
                        len(self._buffers.events),
                        str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                    )
            except Exception:
                logger.exception("writing charger state failed; will retry with the next batch")
            else:
                if failures:
                    logger.info("database back after %d failed writes; state written", failures)
                failures = 0

    async def flush(self) -> None:
        async with self._flush_lock:
            buffers, self._buffers = self._buffers, _Buffers()
            if not buffers:
                return
            try:
                await self.in_writer(_write, buffers)
            except Exception:
                # Keep what we could not write, in front of anything newer.
                newer, self._buffers = self._buffers, buffers
                self._buffers.events.extend(newer.events)
                self._buffers.seen.update(newer.seen)
                self._buffers.statuses.update(newer.statuses)
                raise

    async def in_writer(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, _with_connection, func, *args
        )

    async def in_reader(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self._reader, _with_connection, func, *args
        )

    async def close(self) -> None:
        """Write what is left and release the database connections of our threads."""
        try:
            await self.flush()
        finally:
            loop = asyncio.get_running_loop()
            for executor in (self._writer, self._reader):
                await loop.run_in_executor(executor, connections.close_all)
                executor.shutdown(wait=True)


# How often a database thread lets Django check its connection (close_old_connections:
# CONN_MAX_AGE, and a health-check round trip before the next query). Checking around
# every call doubled the round trips of each handshake lookup and flush.
CONNECTION_CHECK_SECONDS = 5.0
_thread_state = threading.local()


def _with_connection(func, *args):
    now = time.monotonic()
    if now - getattr(_thread_state, "checked_at", float("-inf")) >= CONNECTION_CHECK_SECONDS:
        close_old_connections()
        _thread_state.checked_at = now
    try:
        return func(*args)
    except Exception:
        close_old_connections()  # an unusable connection is dropped; the next call reconnects
        _thread_state.checked_at = time.monotonic()
        raise
    finally:
        history.write()


# The database is away (restarting, network cut): keep the write and try it again.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


def _write(buffers: _Buffers) -> None:
    """Write the batch; what was written is removed from `buffers` as it goes.

    A transient database error stops the batch and is raised with everything not yet
    written still in `buffers` (events in order), for the next flush to retry. Before,
    each failed event was logged and dropped, so a BootNotification or a disconnect that
    arrived while the database was away was lost for good. Any other error is a bad
    row: it is logged and that event dropped, so it cannot block the ones after it.
    """
    if bulk_writes.supported():
        _write_events_in_bulk(buffers)
    while buffers.events:
        event = buffers.events[0]
        _write_event(event)
        buffers.events.pop(0)

    if buffers.statuses:
        if bulk_writes.supported():
            bulk_writes.statuses(buffers.statuses)
        else:
            rows = [
                Charger(pk=pk, last_status=status, last_status_at=at)
                for pk, (status, _connector, at) in buffers.statuses.items()
            ]
            Charger.objects.bulk_update(rows, ["last_status", "last_status_at"], batch_size=500)
        statuses, buffers.statuses = buffers.statuses, {}
        for pk, (status, connector_id, at) in statuses.items():
            _send(
                signals.charger_status_changed,
                charger_id=pk,
                at=at,
                status=status,
                connector_id=connector_id,
            )

    if buffers.seen:
        if bulk_writes.supported():
            bulk_writes.seen(buffers.seen)
        else:
            rows = [Charger(pk=pk, last_seen_at=at) for pk, at in buffers.seen.items()]
            Charger.objects.bulk_update(rows, ["last_seen_at"], batch_size=500)
        buffers.seen = {}


def _write_event(event: tuple) -> None:
    """One event, row by row (other databases, and a batch PostgreSQL refused)."""
    kind = event[0]
    try:
        _EVENT_WRITERS[kind](*event[1:])
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("could not record %s for charger %s", kind, event[1])


def _write_events_in_bulk(buffers: _Buffers) -> None:
    """The events as a few set-based statements, in order per charger (bulk_writes.py).

    Written events leave `buffers.events` even when a transient error stops the batch;
    the rest stay, in order. A statement refused for a bad row is retried row by row,
    so one bad event cannot take the others with it.
    """
    events = buffers.events
    written: set[int] = set()
    try:
        for layer in bulk_writes.layers(events):
            for kind, positions in layer.items():
                batch = [events[i] for i in positions]
                try:
                    applied = bulk_writes.EVENTS[kind](batch)
                except TRANSIENT_ERRORS:
                    raise
                except Exception:
                    logger.exception("batch of %d %s events refused; row by row", len(batch), kind)
                    for i in positions:
                        _write_event(events[i])
                        written.add(i)
                    continue
                written.update(positions)
                for event in applied:
                    _EVENT_SIGNALS[kind](*event[1:])
                if kind == "booted":
                    _boots_signal(applied)
    finally:
        buffers.events = [event for i, event in enumerate(events) if i not in written]


def _write_connected(
    pk: int,
    token: str,
    at: datetime,
    ocpp_version: str,
    security_profile: int = 1,
    certificate_expires_at: datetime | None = None,
) -> None:
    updated = Charger.objects.filter(pk=pk).update(
        is_connected=True,
        connected_at=at,
        last_seen_at=at,
        connection_token=token,
        ocpp_version=ocpp_version,
        connection_security_profile=security_profile,
        certificate_expires_at=certificate_expires_at,
    )
    if updated:
        _send(signals.charger_connected, charger_id=pk, at=at, connection_token=token)


def _write_disconnected(pk: int, token: str, at: datetime) -> None:
    if mark_disconnected(pk, token, at):
        logger.info("charger %s disconnected", pk)


def mark_disconnected(pk: int, token: str, at: datetime) -> bool:
    """Compare-and-set: only the socket that still owns the charger may disconnect it."""
    updated = Charger.objects.filter(pk=pk, connection_token=token).update(
        is_connected=False, disconnected_at=at, connection_token=""
    )
    if updated:
        _send(signals.charger_disconnected, charger_id=pk, at=at, connection_token=token)
    return bool(updated)


def disconnect_by_id(charge_point_id: str, token: str, at: datetime) -> bool:
    """`mark_disconnected` for a charger known by its charge point id (a dropped route)."""
    pk = (
        Charger.objects.filter(charge_point_id=charge_point_id).values_list("pk", flat=True).first()
    )
    return pk is not None and mark_disconnected(pk, token, at)


def _write_booted(
    pk: int, at: datetime, reason: str, facts: dict[str, str], connected_at=None
) -> None:
    fields = {name: value for name, value in facts.items() if value}
    updated = Charger.objects.filter(pk=pk).update(last_boot_at=at, last_seen_at=at, **fields)
    if updated:
        _booted_signal(pk, at, reason, facts, connected_at)
        _boots_signal([("booted", pk, at, reason, facts, connected_at)])


def _write_session(pk: int, at: datetime, op: str, key: str, transaction_id: str) -> None:
    with transaction.atomic():
        row = (
            Charger.objects.select_for_update()
            .filter(pk=pk)
            .values("sessions", "session_active")
            .first()
        )
        if row is None:
            return
        after = sessions.apply(row["sessions"] or {}, op, key, transaction_id)
        if after == row["sessions"] and bool(after) == row["session_active"]:
            return  # nothing changed: nothing written, no signal
        Charger.objects.filter(pk=pk).update(
            sessions=after, session_active=bool(after), session_changed_at=at
        )
    _session_signal(pk, at, op, key, transaction_id, bool(after))


def _write_firmware(pk: int, at: datetime, status: str) -> None:
    Charger.objects.filter(pk=pk).update(firmware_status=status, firmware_status_at=at)


def _fault_history(pk: int, at: datetime, faulted: bool) -> None:
    history.note(pk, at, ChargerEvent.Kind.FAULTED if faulted else ChargerEvent.Kind.RECOVERED)


# After a set-based write (bulk_writes.py), the signal of each event it applied.
_EVENT_SIGNALS = {
    "connected": _connected_signal,
    "disconnected": _disconnected_signal,
    "booted": _booted_signal,
    "session": _session_signal,
    "fault": _fault_history,
    "firmware": _no_signal,
}

_EVENT_WRITERS = {
    "connected": _write_connected,
    "disconnected": _write_disconnected,
    "booted": _write_booted,
    "session": _write_session,
    "fault": _fault_history,
    "firmware": _write_firmware,
}


def sweep_silent(
    timeout: float, exclude_ids: set[int], exclude_charge_point_ids: set[str] = frozenset()
) -> list[int]:
    """Mark disconnected every charger shown connected that nobody has heard from in time.

    Catches chargers left "connected" by a gateway that died without cleaning up.
    `exclude_ids` are the chargers this gateway holds (it watches those itself);
    `exclude_charge_point_ids` those a running gateway holds (it watches those).
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=timeout)
    stale = (
        Charger.objects.filter(is_connected=True)
        .filter(Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True))
        .exclude(pk__in=exclude_ids)
        .exclude(charge_point_id__in=exclude_charge_point_ids)
        .values_list("pk", "connection_token")
    )
    swept = []
    for pk, token in list(stale):
        updated = Charger.objects.filter(
            Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True),
            pk=pk,
            connection_token=token,
            is_connected=True,
        ).update(is_connected=False, disconnected_at=now, connection_token="")
        if updated:
            _send(signals.charger_disconnected, charger_id=pk, at=now, connection_token=token)
            swept.append(pk)
    return swept
