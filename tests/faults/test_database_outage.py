"""The database goes away for a while: the gateway keeps its sockets, keeps answering
chargers, keeps what happened meanwhile and writes it once the database is back."""

from __future__ import annotations

import asyncio

from django.utils import timezone
from ocpp.v16 import call as call16
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chargers.models import Charger
from tests.factories import make_charger
from tests.faults.conftest import database_url_through
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url


def fresh(cp_id: str) -> Charger:
    return Charger.objects.get(charge_point_id=cp_id)


def handshake_status(port: int, cp_id: str) -> int:
    async def attempt():
        try:
            ws = await connect(ws_url(port, cp_id), subprotocols=["ocpp1.6"])
        except InvalidStatus as exc:
            return exc.response.status_code
        await ws.close()
        return 101

    return asyncio.run(attempt())


def test_gateway_keeps_sockets_and_writes_what_happened_once_the_database_is_back(
    db_proxy, gateway_process, runner
):
    gw = gateway_process(
        "gw-dbcut", DATABASE_URL=database_url_through(db_proxy), OCPP_FLUSH_INTERVAL="0.2"
    )
    for cp_id in ("CP-STATUS", "CP-BOOT", "CP-LEAVES", "CP-LATE"):
        make_charger(charge_point_id=cp_id, is_connected=False)
    clients = {
        cp_id: runner.run(open_client(ws_url(gw.port), cp_id))
        for cp_id in ("CP-STATUS", "CP-BOOT", "CP-LEAVES")
    }
    wait_for(lambda: Charger.objects.filter(is_connected=True).count() == 3, message="3 connected")
    tokens = {cp_id: fresh(cp_id).connection_token for cp_id in clients}
    assert fresh("CP-BOOT").last_boot_at is None

    db_proxy.cut()
    # First a disconnect on its own: a batch of events with no status or last-seen
    # times in it (such a batch used to be dropped when its writes failed).
    runner.run(clients["CP-LEAVES"][1].close())
    wait_for(
        lambda: "database unavailable" in gw.output() or "could not record" in gw.output(),
        message="the gateway tried to write the disconnect",
    )

    status_cp, status_ws, _ = clients["CP-STATUS"]
    boot_cp, boot_ws, _ = clients["CP-BOOT"]
    # The gateway still answers chargers while it cannot write.
    faulted = call16.StatusNotification(
        connector_id=1, error_code="GroundFailure", status="Faulted"
    )
    runner.run(status_cp.call(faulted))
    boot = call16.BootNotification(charge_point_model="Pulsar", charge_point_vendor="Wallbox")
    assert runner.run(boot_cp.call(boot)).status == "Accepted"
    # A new charger cannot be looked up: told to come back later, not left hanging.
    assert handshake_status(gw.port, "CP-LATE") == 503
    assert runner.run(status_cp.call(call16.Heartbeat())).current_time

    before_restore = timezone.now()
    db_proxy.restore()

    wait_for(lambda: fresh("CP-STATUS").last_status == "Faulted", message="status written")
    wait_for(lambda: fresh("CP-BOOT").last_boot_at is not None, message="boot written")
    wait_for(lambda: not fresh("CP-LEAVES").is_connected, message="disconnect written")
    booted = fresh("CP-BOOT")
    assert (booted.vendor, booted.model) == ("Wallbox", "Pulsar")
    # The sockets that stayed are still the same connections, and still work.
    for cp_id in ("CP-STATUS", "CP-BOOT"):
        charger = fresh(cp_id)
        assert charger.is_connected and charger.connection_token == tokens[cp_id]
    assert status_ws.close_code is None and boot_ws.close_code is None
    assert runner.run(boot_cp.call(call16.Heartbeat())).current_time
    left = fresh("CP-LEAVES")
    assert left.connection_token == "" and left.disconnected_at < before_restore
    # The recovery is logged right after the write that the waits above saw commit.
    wait_for(lambda: "database back" in gw.output(), message="recovery logged")
    assert "could not record" not in gw.output()
    # And a charger can connect again.
    assert handshake_status(gw.port, "CP-LATE") == 101
    for cp_id in ("CP-STATUS", "CP-BOOT"):
        runner.run(clients[cp_id][1].close())
