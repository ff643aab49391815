"""The recorder's set-based writes on PostgreSQL keep each charger's events in order,
keep the compare-and-set of a disconnect, and let one bad row not take the others down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chargers import signals
from chargers.models import Charger
from ocpp_gateway import bulk_writes
from ocpp_gateway.recorder import _Buffers, _write
from tests.factories import make_charger

# Autocommit, as in the gateway's writer thread (no test transaction around the writes).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if not bulk_writes.supported():
        pytest.skip("set-based writes are the PostgreSQL path")


def _received(signal):
    got = []

    def receiver(sender, **kwargs):
        got.append(kwargs)

    signal.connect(receiver, weak=False)
    return got, lambda: signal.disconnect(receiver)


def test_a_reconnect_within_one_batch_ends_connected_with_the_newer_socket():
    charger = make_charger(is_connected=False, connection_token="")
    t0 = timezone.now()
    buffers = _Buffers(
        events=[
            ("connected", charger.pk, "old", t0, "1.6"),
            ("disconnected", charger.pk, "old", t0 + timedelta(seconds=1)),
            ("connected", charger.pk, "new", t0 + timedelta(seconds=2), "1.6"),
            ("booted", charger.pk, t0 + timedelta(seconds=2), "PowerUp", {"model": "Copper"}),
        ]
    )
    _write(buffers)
    charger.refresh_from_db()
    assert charger.is_connected and charger.connection_token == "new"
    assert charger.connected_at == t0 + timedelta(seconds=2)
    assert charger.disconnected_at == t0 + timedelta(seconds=1)
    assert charger.model == "Copper"
    assert buffers.events == []


def test_a_closing_socket_that_no_longer_owns_the_charger_does_not_disconnect_it():
    kept = make_charger(connection_token="newer")
    gone = make_charger(connection_token="mine")
    got, done = _received(signals.charger_disconnected)
    try:
        _write(
            _Buffers(
                events=[
                    ("disconnected", kept.pk, "older", timezone.now()),
                    ("disconnected", gone.pk, "mine", timezone.now()),
                ]
            )
        )
    finally:
        done()
    assert Charger.objects.get(pk=kept.pk).is_connected
    assert not Charger.objects.get(pk=gone.pk).is_connected
    assert [g["charger_id"] for g in got] == [gone.pk]


def test_a_boot_without_facts_keeps_what_the_charger_row_knows():
    charger = make_charger(vendor="Wallbox", model="Pulsar Plus", firmware_version="6.4")
    at = timezone.now()
    got, done = _received(signals.charger_booted)
    try:
        _write(
            _Buffers(events=[("booted", charger.pk, at, "PowerUp", {"model": "", "vendor": ""})])
        )
    finally:
        done()
    charger.refresh_from_db()
    assert (charger.vendor, charger.model, charger.firmware_version) == (
        "Wallbox",
        "Pulsar Plus",
        "6.4",
    )
    assert charger.last_boot_at == at
    assert got and got[0]["charger_id"] == charger.pk and got[0]["reason"] == "PowerUp"


def test_one_bad_row_does_not_lose_the_other_chargers_boots():
    good = make_charger()
    bad = make_charger()
    at = timezone.now()
    buffers = _Buffers(
        events=[
            ("booted", good.pk, at, "PowerUp", {"model": "Copper"}),
            ("booted", bad.pk, at, "PowerUp", {"model": "x" * 500}),  # longer than the column
        ]
    )
    _write(buffers)
    assert Charger.objects.get(pk=good.pk).last_boot_at == at
    assert Charger.objects.get(pk=good.pk).model == "Copper"
    assert buffers.events == []


def test_statuses_and_last_seen_are_written_and_last_seen_never_goes_back():
    charger = make_charger()
    later = timezone.now() + timedelta(minutes=5)
    Charger.objects.filter(pk=charger.pk).update(last_seen_at=later)
    at = timezone.now()
    _write(_Buffers(seen={charger.pk: at}, statuses={charger.pk: ("Faulted", 1, at)}))
    charger.refresh_from_db()
    assert charger.last_seen_at == later
    assert (charger.last_status, charger.last_status_at) == ("Faulted", at)


def test_a_writes_boots_reach_their_listeners_as_one_signal_in_order():
    first, second = make_charger(), make_charger()
    opened = timezone.now()
    at = timezone.now()
    got, done = _received(signals.chargers_booted)
    try:
        _write(
            _Buffers(
                events=[
                    ("booted", second.pk, at, "PowerUp", {}, opened),
                    ("booted", first.pk, at, "RemoteReset", {}, opened),
                ]
            )
        )
    finally:
        done()
    assert [
        [(b["charger_id"], b["reason"], b["connected_at"]) for b in g["boots"]] for g in got
    ] == [[(second.pk, "PowerUp", opened), (first.pk, "RemoteReset", opened)]]
