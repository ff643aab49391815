"""Boot, status, sessions and presence as the portal records them, for OCPP 1.6 and 2.0.1."""

import asyncio
import threading
from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargers import signals
from chargers.models import Charger
from ocpp_gateway import commands, registry
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url


def fresh(charge_point_id) -> Charger:
    return Charger.objects.get(charge_point_id=charge_point_id)


class SignalLog:
    def __init__(self, *sigs):
        self.events = []
        self.lock = threading.Lock()
        self.sigs = sigs
        for sig in sigs:
            sig.connect(self.receive, weak=False)

    def receive(self, signal, sender, **kwargs):
        with self.lock:
            self.events.append((signal, kwargs))

    def of(self, sig, charger_id):
        with self.lock:
            return [kw for s, kw in self.events if s is sig and kw["charger_id"] == charger_id]

    def close(self):
        for sig in self.sigs:
            sig.disconnect(self.receive)


def test_ocpp16_boot_status_heartbeat_and_disconnect_are_recorded(gateway, runner):
    charger = make_charger(charge_point_id="CP16-BOOT", is_connected=False, firmware_version="")
    log = SignalLog(
        signals.charger_connected,
        signals.charger_booted,
        signals.charger_status_changed,
        signals.charger_disconnected,
    )
    try:

        async def scenario():
            cp, ws, reader = await open_client(ws_url(gateway), "CP16-BOOT", "1.6")
            boot = await cp.call(
                call16.BootNotification(
                    charge_point_model="Pulsar Plus",
                    charge_point_vendor="Wallbox",
                    charge_point_serial_number="SN-123",
                    firmware_version="6.4.12",
                )
            )
            status = await cp.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )
            beat = await cp.call(call16.Heartbeat())
            return cp, ws, reader, boot, status, beat

        cp, ws, reader, boot, status, beat = runner.run(scenario())
        assert boot.status == "Accepted" and boot.interval == gateway.heartbeat_interval
        assert status is not None and beat.current_time

        c = wait_for(lambda: (c := fresh("CP16-BOOT")).last_status == "Available" and c)
        assert c.is_connected and c.connected_at and c.last_boot_at and c.last_seen_at
        assert (c.vendor, c.model, c.firmware_version, c.serial_number) == (
            "Wallbox",
            "Pulsar Plus",
            "6.4.12",
            "SN-123",
        )
        assert c.ocpp_version == "1.6"
        assert commands.is_connected("CP16-BOOT")

        runner.run(ws.close())
        c = wait_for(lambda: not (c := fresh("CP16-BOOT")).is_connected and c)
        assert c.disconnected_at >= c.connected_at
        assert not commands.is_connected("CP16-BOOT")
        wait_for(lambda: log.of(signals.charger_disconnected, charger.pk))
        assert log.of(signals.charger_connected, charger.pk)
        assert [e["reason"] for e in log.of(signals.charger_booted, charger.pk)] == [""]
        assert [e["status"] for e in log.of(signals.charger_status_changed, charger.pk)] == [
            "Available"
        ]
    finally:
        log.close()


def test_ocpp201_boot_status_and_transaction_events_are_recorded(gateway, runner):
    make_charger(charge_point_id="CP201-BOOT", is_connected=False, ocpp_version="1.6")

    async def boot_and_start():
        cp, ws, reader = await open_client(ws_url(gateway), "CP201-BOOT", "2.0.1")
        boot = await cp.call(
            call201.BootNotification(
                charging_station={
                    "model": "Copper SB",
                    "vendor_name": "Wallbox",
                    "firmware_version": "6.5.2",
                    "serial_number": "SN-201",
                },
                reason="PowerUp",
            )
        )
        await cp.call(
            call201.StatusNotification(
                timestamp="2025-01-01T00:00:00Z",
                connector_status="Occupied",
                evse_id=1,
                connector_id=1,
            )
        )
        await cp.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp="2025-01-01T00:00:00Z",
                trigger_reason="Authorized",
                seq_no=1,
                transaction_info={"transaction_id": "T-1"},
            )
        )
        return cp, ws, boot

    cp, ws, boot = runner.run(boot_and_start())
    assert boot.status == "Accepted"
    c = wait_for(lambda: (c := fresh("CP201-BOOT")).session_active and c)
    assert c.ocpp_version == "2.0.1"  # what the charger negotiated
    assert (c.model, c.firmware_version, c.serial_number) == ("Copper SB", "6.5.2", "SN-201")
    assert c.last_status == "Occupied" and c.last_boot_at

    runner.run(
        cp.call(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp="2025-01-01T00:10:00Z",
                trigger_reason="EVDeparted",
                seq_no=2,
                transaction_info={"transaction_id": "T-1", "stopped_reason": "Local"},
            )
        )
    )
    wait_for(lambda: not fresh("CP201-BOOT").session_active, message="session ended")
    runner.run(ws.close())


def test_ocpp16_transactions_toggle_the_session_and_get_distinct_ids(gateway, runner):
    make_charger(charge_point_id="CP16-TX", is_connected=False)

    async def scenario():
        cp, ws, _ = await open_client(ws_url(gateway), "CP16-TX", "1.6")
        first = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=0, timestamp="2025-01-01T00:00:00Z"
            )
        )
        return cp, ws, first

    cp, ws, first = runner.run(scenario())
    assert first.id_tag_info["status"] == "Accepted"
    wait_for(lambda: fresh("CP16-TX").session_active, message="session started")
    runner.run(
        cp.call(
            call16.StopTransaction(
                meter_stop=10, timestamp="2025-01-01T01:00:00Z", transaction_id=first.transaction_id
            )
        )
    )
    wait_for(lambda: not fresh("CP16-TX").session_active, message="session ended")
    second = runner.run(
        cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=10, timestamp="2025-01-01T02:00:00Z"
            )
        )
    )
    assert second.transaction_id != first.transaction_id
    runner.run(ws.close())


def test_a_failing_signal_receiver_does_not_stop_the_recording(gateway, runner):
    make_charger(charge_point_id="CP-BADRECV", is_connected=False)

    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    signals.charger_connected.connect(broken, weak=False)
    signals.charger_booted.connect(broken, weak=False)
    try:

        async def scenario():
            cp, ws, _ = await open_client(ws_url(gateway), "CP-BADRECV", "1.6")
            await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            answer = await cp.call(call16.Heartbeat())
            await ws.close()
            return answer

        assert runner.run(scenario()).current_time
        c = wait_for(lambda: (c := fresh("CP-BADRECV")).last_boot_at and c.disconnected_at and c)
        assert not c.is_connected
    finally:
        signals.charger_connected.disconnect(broken)
        signals.charger_booted.disconnect(broken)


def test_reconnect_without_boot_shows_connected_again(gateway, runner):
    make_charger(charge_point_id="CP-NOBOOT", is_connected=False)

    async def boot_then_leave():
        cp, ws, _ = await open_client(ws_url(gateway), "CP-NOBOOT", "1.6")
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await ws.close()

    runner.run(boot_then_leave())
    c = wait_for(lambda: (c := fresh("CP-NOBOOT")).disconnected_at and not c.is_connected and c)
    booted_at = c.last_boot_at

    async def come_back_quietly():
        cp, ws, _ = await open_client(ws_url(gateway), "CP-NOBOOT", "1.6")
        await cp.call(call16.Heartbeat())
        return ws

    ws = runner.run(come_back_quietly())
    c = wait_for(lambda: (c := fresh("CP-NOBOOT")).is_connected and c)
    assert c.last_boot_at == booted_at
    runner.run(ws.close())


def test_a_silent_charger_is_disconnected_after_the_presence_timeout(make_gateway, runner):
    gateway = make_gateway(presence_timeout=1)
    make_charger(charge_point_id="CP-SILENT", is_connected=False)
    make_charger(charge_point_id="CP-TALKS", is_connected=False)

    async def connect_both():
        silent = await open_client(ws_url(gateway), "CP-SILENT", "1.6")
        await silent[0].call(
            call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        talker = await open_client(ws_url(gateway), "CP-TALKS", "1.6")
        return silent, talker

    silent, talker = runner.run(connect_both())
    wait_for(lambda: fresh("CP-SILENT").is_connected)

    async def keep_talking():
        while True:
            await talker[0].call(call16.Heartbeat())
            await asyncio.sleep(0.2)

    chatter = runner.submit(keep_talking())
    try:
        wait_for(lambda: not fresh("CP-SILENT").is_connected, message="silent charger dropped")
        wait_for(lambda: silent[1].close_code is not None, message="its socket closed")
        assert not commands.is_connected("CP-SILENT")
        assert fresh("CP-TALKS").is_connected
    finally:
        chatter.cancel()


def test_sweep_disconnects_chargers_a_dead_gateway_left_connected(transactional_db, make_gateway):
    long_ago = timezone.now() - timedelta(hours=1)
    orphan = make_charger(
        charge_point_id="CP-ORPHAN", is_connected=True, last_seen_at=long_ago, connected_at=long_ago
    )
    Charger.objects.filter(pk=orphan.pk).update(connection_token="tok-dead")
    routed = make_charger(charge_point_id="CP-ROUTED", is_connected=True)
    Charger.objects.filter(pk=routed.pk).update(connection_token="tok-gone")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.hset(
        registry.ROUTES, "CP-ROUTED", registry.Route("dead-gateway", "tok-gone", "1.6").encode()
    )

    make_gateway(presence_timeout=1)

    c = wait_for(lambda: not (c := fresh("CP-ROUTED")).is_connected and c)
    assert client.hget(registry.ROUTES, "CP-ROUTED") is None
    assert c.connection_token == ""
    wait_for(lambda: not fresh("CP-ORPHAN").is_connected, message="orphan swept")


def test_a_boot_is_written_at_once_not_at_the_writers_next_tick(make_gateway, sims):
    # A minute between ticks: only a boot's own flush can write it within the test.
    gateway = make_gateway(flush_interval=60)
    make_charger(charge_point_id="CP-PROMPT", is_connected=False)
    sims.start("CP-PROMPT", ws_url(gateway))
    charger = wait_for(
        lambda: (c := Charger.objects.get(charge_point_id="CP-PROMPT")).last_boot_at and c,
        timeout=15,
        message="the boot written",
    )
    assert charger.is_connected and charger.vendor
