"""Pings count as life: a charger that keeps its link alive with websocket pings and pongs
alone stays present; only one that answers neither OCPP nor pings is disconnected."""

from ocpp.v16 import call as call16

from chargers.models import Charger
from ocpp_gateway import commands
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url


def fresh(charge_point_id) -> Charger:
    return Charger.objects.get(charge_point_id=charge_point_id)


def test_a_charger_alive_by_pings_alone_stays_while_a_mute_one_is_dropped(
    make_gateway, runner, sims
):
    gateway = make_gateway(presence_timeout=1.5, ping_interval=0.3, ping_timeout=5)
    make_charger(charge_point_id="CP-PINGS", is_connected=False)
    make_charger(charge_point_id="CP-MUTE", is_connected=False)
    pinger = sims.start("CP-PINGS", ws_url(gateway), behaviour="pings_only")
    wait_for(lambda: fresh("CP-PINGS").last_boot_at, message="the pinging charger booted")
    seen_after_boot = fresh("CP-PINGS").last_seen_at

    async def connect_mute():
        cp, websocket, _reader = await open_client(ws_url(gateway), "CP-MUTE", "1.6")
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        # From now on it reads nothing: it answers neither OCPP calls nor pings.
        websocket.transport.pause_reading()
        return websocket

    runner.run(connect_mute())
    wait_for(lambda: fresh("CP-MUTE").is_connected, message="the mute charger connected")
    # The pinging charger connected first and has sent no OCPP frame since its boot, so
    # by the time the mute one is dropped it was longer without OCPP than the timeout.
    wait_for(lambda: not fresh("CP-MUTE").is_connected, message="the mute charger dropped")
    assert not commands.is_connected("CP-MUTE")

    pinging = fresh("CP-PINGS")
    assert pinging.is_connected and commands.is_connected("CP-PINGS")
    assert pinger.stats.connects == 1 and pinger.stats.heartbeats == 0
    # Its pongs moved "last seen" on, though it sent no OCPP frame.
    assert pinging.last_seen_at > seen_after_boot
