"""The recorder's batch as a few set-based statements on PostgreSQL.

A flush after a second of a busy fleet holds thousands of facts. Written one ORM
``update()`` per event, or with ``bulk_update`` (a CASE WHEN per row, built in Python
while holding the GIL), the gateway's single writer thread fell behind at a few
thousand chargers and took CPU from the event loop (see the README's Performance
section). Here each kind of fact is one ``UPDATE … FROM unnest(arrays)``:

- events keep their order per charger: the n-th event of each charger in the batch
  goes in "layer" n, layers are written in order, and within a layer (each charger at
  most once) each kind of event is one statement;
- compare-and-set stays in SQL: a disconnect only applies while the row still holds
  the closing socket's token;
- ``RETURNING`` says which rows changed; the recorder sends those their signal, as before.

Other databases (the SQLite demo) keep the row-by-row path in recorder.py.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

from chargers.models import Charger
from ocpp_gateway import sessions

# Boot facts a BootNotification may carry; an empty one keeps what the row has.
BOOT_FACTS = ("vendor", "model", "firmware_version", "serial_number")


def supported() -> bool:
    return connection.vendor == "postgresql"


def _name(field: str) -> str:
    return connection.ops.quote_name(Charger._meta.get_field(field).column)


def _update(assignments: str, columns: list[tuple[str, str, list]], where: str = "") -> set[int]:
    """UPDATE the charger table FROM unnest(columns) AS v; return the updated pks."""
    table = connection.ops.quote_name(Charger._meta.db_table)
    pk = _name("id")
    arrays = ", ".join(f"%s::{sql_type}[]" for _name_, sql_type, _values in columns)
    names = ", ".join(name for name, _sql_type, _values in columns)
    sql = (
        f"UPDATE {table} AS c SET {assignments} "
        f"FROM unnest({arrays}) AS v({names}) "
        f"WHERE c.{pk} = v.pk {where} RETURNING c.{pk}"
    )
    # Its own transaction (a savepoint inside a caller's): a refused statement leaves the
    # connection usable for the row-by-row retry.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [values for _name_, _sql_type, values in columns])
        return {row[0] for row in cursor.fetchall()}


def connected(events: list[tuple]) -> list[tuple]:
    """("connected", pk, token, at, ocpp_version[, profile, certificate expiry]) …;
    returns the events applied."""
    updated = _update(
        f"{_name('is_connected')} = TRUE, {_name('connected_at')} = v.at, "
        f"{_name('last_seen_at')} = v.at, {_name('connection_token')} = v.token, "
        f"{_name('ocpp_version')} = v.version, "
        f"{_name('connection_security_profile')} = v.profile, "
        f"{_name('certificate_expires_at')} = v.expires",
        [
            ("pk", "bigint", [e[1] for e in events]),
            ("token", "text", [e[2] for e in events]),
            ("at", "timestamptz", [e[3] for e in events]),
            ("version", "text", [e[4] for e in events]),
            ("profile", "smallint", [e[5] if len(e) > 5 else 1 for e in events]),
            ("expires", "timestamptz", [e[6] if len(e) > 6 else None for e in events]),
        ],
    )
    return [e for e in events if e[1] in updated]


def disconnected(events: list[tuple]) -> list[tuple]:
    """("disconnected", pk, token, at) …: only where the row still holds that token."""
    updated = _update(
        f"{_name('is_connected')} = FALSE, {_name('disconnected_at')} = v.at, "
        f"{_name('connection_token')} = ''",
        [
            ("pk", "bigint", [e[1] for e in events]),
            ("token", "text", [e[2] for e in events]),
            ("at", "timestamptz", [e[3] for e in events]),
        ],
        where=f"AND c.{_name('connection_token')} = v.token",
    )
    return [e for e in events if e[1] in updated]


def booted(events: list[tuple]) -> list[tuple]:
    """("booted", pk, at, reason, facts) …"""
    facts = [
        f"{_name(fact)} = COALESCE(NULLIF(v.{fact}, ''), c.{_name(fact)})" for fact in BOOT_FACTS
    ]
    updated = _update(
        ", ".join([f"{_name('last_boot_at')} = v.at", f"{_name('last_seen_at')} = v.at", *facts]),
        [
            ("pk", "bigint", [e[1] for e in events]),
            ("at", "timestamptz", [e[2] for e in events]),
            *((fact, "text", [e[4].get(fact) or "" for e in events]) for fact in BOOT_FACTS),
        ],
    )
    return [e for e in events if e[1] in updated]


def session(events: list[tuple]) -> list[tuple]:
    """("session", pk, at, op, key, transaction id) …: each an operation on the charger's
    sessions (ocpp_gateway/sessions.py); returns the events that changed them, each with
    whether the charger has any session left appended. An operation that changes nothing
    (a boot of a charger that was not charging) writes nothing and sends no signal."""
    # The expression is repeated rather than joined in: each use reads the row as it is
    # when locked, so two writers (a charger moving between gateways) cannot lose a change.
    after = sessions.sql(_name("sessions"))
    table = connection.ops.quote_name(Charger._meta.db_table)
    pk, active = _name("id"), _name("session_active")
    sql = (
        f"UPDATE {table} AS c SET {_name('sessions')} = {after}, "
        f"{active} = ({after}) <> '{{}}'::jsonb, {_name('session_changed_at')} = v.at "
        f"FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::text[], %s::text[]) "
        f"AS v(pk, at, op, key, txn) "
        f"WHERE c.{pk} = v.pk AND (c.{_name('sessions')} IS DISTINCT FROM ({after}) "
        f"OR c.{active} <> (({after}) <> '{{}}'::jsonb)) "
        f"RETURNING c.{pk}, c.{active}"
    )
    columns = [[e[i] for e in events] for i in range(1, 6)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, columns)
        left = dict(cursor.fetchall())
    return [(*e, left[e[1]]) for e in events if e[1] in left]


def firmware(events: list[tuple]) -> list[tuple]:
    """("firmware", pk, at, status) …: the charger's last FirmwareStatusNotification."""
    updated = _update(
        f"{_name('firmware_status')} = v.status, {_name('firmware_status_at')} = v.at",
        [
            ("pk", "bigint", [e[1] for e in events]),
            ("at", "timestamptz", [e[2] for e in events]),
            ("status", "text", [e[3] for e in events]),
        ],
    )
    return [e for e in events if e[1] in updated]


def faults(events: list[tuple]) -> list[tuple]:
    """("fault", pk, at, faulted) …: history only (the recorder inserts it), no row change."""
    return events


EVENTS: dict[str, Callable[[list[tuple]], list[tuple]]] = {
    "connected": connected,
    "disconnected": disconnected,
    "booted": booted,
    "session": session,
    "fault": faults,
    "firmware": firmware,
}


def layers(events: list[tuple]) -> list[dict[str, list[int]]]:
    """Positions of `events` by layer and kind: a charger's n-th event is in layer n."""
    depth: dict[int, int] = {}
    result: list[dict[str, list[int]]] = []
    for index, event in enumerate(events):
        n = depth.get(event[1], 0)
        depth[event[1]] = n + 1
        if n == len(result):
            result.append({})
        result[n].setdefault(event[0], []).append(index)
    return result


def statuses(rows: dict[int, tuple]) -> None:
    """{pk: (status, connector_id, at)}: every charger's latest status, one statement."""
    _update(
        f"{_name('last_status')} = v.status, {_name('last_status_at')} = v.at",
        [
            ("pk", "bigint", list(rows)),
            ("status", "text", [status for status, _connector, _at in rows.values()]),
            ("at", "timestamptz", [at for _status, _connector, at in rows.values()]),
        ],
    )


def seen(rows: dict[int, object]) -> None:
    """{pk: at}: last-seen times, never moved backwards, one statement."""
    column = _name("last_seen_at")
    _update(
        f"{column} = v.at",
        [("pk", "bigint", list(rows)), ("at", "timestamptz", list(rows.values()))],
        where=f"AND (c.{column} IS NULL OR c.{column} < v.at)",
    )
