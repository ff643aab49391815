"""Charging sessions per connector (1.6 connectorId) or EVSE (2.0.1 evseId).

A charger with two connectors can charge two cars: a session ending on one says
nothing about the other. `Charger.sessions` holds the running ones, {connector key:
transaction id}, and `Charger.session_active` is whether it holds any (written in
the same statement, for cheap filters). The default restart mode waits until no
connector has a session.

What a charger tells us, and what it does to its sessions:

- 1.6 StartTransaction: a session on its connectorId (with the transaction id we
  gave). StopTransaction names only the transaction: the session holding that id ends.
- 1.6 StatusNotification on a connector > 0: Charging, SuspendedEV, SuspendedEVSE
  mean a session runs there (a charger that reconnected mid-session does not repeat
  its StartTransaction); Available, Preparing and Finishing mean none does. Faulted,
  Unavailable and Reserved say nothing about it.
- 2.0.1 TransactionEvent Started/Updated: a session on its evse (or, when the event
  names no EVSE, under the key "tx:<transaction id>"); Ended ends the session with that
  transaction id. 2.0.1 connector statuses (Occupied, Available, …) do not say whether a
  transaction runs, so they change nothing.
- A BootNotification: the charger started afresh, so no session survives it.

Each socket keeps what it already reported (`SessionBook`), so repeats cost nothing;
the database applies each change as an operation on what it holds (`OPS`), so a new
socket, another gateway process or a restart of the gateway never needs to know the
earlier ones. Key "0" is "somewhere on the charger" (a session recorded before sessions
were kept per connector): any session end on a connector, or a boot, ends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

START = "start"  # a session with this transaction id runs on this connector
SEEN = "seen"  # a session runs on this connector (its transaction id unknown)
END = "end"  # no session on this connector any more / the one with this transaction id ended
CLEAR = "clear"  # the charger booted: no sessions
OPS = (START, SEEN, END, CLEAR)
# More sessions at once than any charger has connectors: a charger reporting more is
# misbehaving, and its further ones are not kept (the row's JSON stays small).
MAX_SESSIONS = 64

WHOLE_CHARGER = "0"
SESSION_STATUSES_16 = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
NO_SESSION_STATUSES_16 = frozenset({"Available", "Preparing", "Finishing"})

_UNKNOWN = object()


class SessionBook:
    """What one socket reported about its charger's sessions; records only changes.

    `record(op, key, transaction_id)` is the socket's way to the recorder.
    """

    def __init__(self, record: Callable[[str, str, str], None]):
        self._record = record
        self._open: dict[str, object] = {}  # key -> transaction id ("" unknown) or None (ended)

    def _note(self, op: str, key: str = "", transaction_id: str = "") -> None:
        self._record(op, key, transaction_id)

    def _room_for(self, key: str) -> bool:
        """Whether a session on `key` may be kept: one already open there, or fewer
        than MAX_SESSIONS open on this charger."""
        if self._open.get(key) is not None:
            return True
        open_ = sum(1 for value in self._open.values() if value is not None)
        if open_ < MAX_SESSIONS:
            return True
        logger.warning(
            "a session on %r not kept: %d sessions already run on this charger", key, open_
        )
        return False

    def started(self, key, transaction_id) -> None:
        key, transaction_id = str(key), str(transaction_id)
        if self._open.get(key, _UNKNOWN) == transaction_id or not self._room_for(key):
            return
        self._open[key] = transaction_id
        self._note(START, key, transaction_id)

    def ended(self, *, transaction_id=None, key=None) -> None:
        """The session on `key`, or the one holding `transaction_id`, ended (the database
        ends every entry holding that id, whatever its key)."""
        transaction_id = "" if transaction_id is None else str(transaction_id)
        holding = [k for k, v in self._open.items() if transaction_id and v == transaction_id]
        key = str(key) if key is not None else (holding[0] if holding else "")
        for k in {key, *holding} - {""}:
            self._open[k] = None
        self._note(END, key, transaction_id)

    def status_16(self, connector_id, status: str) -> None:
        # Connector 0 is the charger itself: its status says nothing about a session.
        if not isinstance(connector_id, int) or connector_id <= 0:
            return
        key = str(connector_id)
        known = self._open.get(key, _UNKNOWN)
        if status in SESSION_STATUSES_16 and (known is None or known is _UNKNOWN):
            if not self._room_for(key):
                return
            self._open[key] = ""
            self._note(SEEN, key)
        elif status in NO_SESSION_STATUSES_16 and known is not None:
            self._open[key] = None
            self._note(END, key)

    def transaction_event_201(self, event_type: str, transaction_id, evse_id) -> None:
        transaction_id = "" if transaction_id is None else str(transaction_id)
        if event_type == "Ended":
            self.ended(transaction_id=transaction_id, key=evse_id)
            return
        if evse_id is None:
            if transaction_id in self._open.values():
                return  # an Updated for a session we know, naming no EVSE
            self.started(f"tx:{transaction_id}", transaction_id)
        else:
            self.started(evse_id, transaction_id)

    def booted(self) -> None:
        self._open = {}
        self._note(CLEAR)


def apply(sessions: dict[str, str], op: str, key: str, transaction_id: str) -> dict[str, str]:
    """The sessions after `op` (what the SQL in bulk_writes does, for other databases)."""
    if op == CLEAR:
        return {}
    same_id = {k for k, v in sessions.items() if transaction_id and v == transaction_id}
    if op == START:
        result = {k: v for k, v in sessions.items() if k not in same_id}
        result[key] = transaction_id
        return result
    if op == SEEN:
        return sessions if key in sessions else {**sessions, key: ""}
    if op == END:
        gone = same_id | {key, WHOLE_CHARGER}
        return {k: v for k, v in sessions.items() if k not in gone}
    raise ValueError(f"unknown session operation {op!r}")


def sql(column: str) -> str:
    """PostgreSQL: the sessions column after the operation in `v` (op, key, txn)."""
    same_id = (
        f"ARRAY(SELECT e.key FROM jsonb_each_text(c.{column}) AS e "
        f"WHERE v.txn <> '' AND e.value = v.txn)"
    )
    return (
        f"CASE v.op "
        f"WHEN '{CLEAR}' THEN '{{}}'::jsonb "
        f"WHEN '{START}' THEN (c.{column} - {same_id}) || jsonb_build_object(v.key, v.txn) "
        f"WHEN '{SEEN}' THEN CASE WHEN c.{column} ? v.key THEN c.{column} "
        f"ELSE c.{column} || jsonb_build_object(v.key, '') END "
        f"WHEN '{END}' THEN (c.{column} - {same_id}) - ARRAY[v.key, '{WHOLE_CHARGER}'] "
        f"ELSE c.{column} END"
    )
