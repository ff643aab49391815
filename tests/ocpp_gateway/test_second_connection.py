"""A second socket for the same charge point id replaces the first, and the state stays right."""

from ocpp.v16 import call as call16

from chargers.models import Charger
from ocpp_gateway import commands
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url


def fresh(charge_point_id) -> Charger:
    return Charger.objects.get(charge_point_id=charge_point_id)


def test_the_new_connection_wins_and_the_old_ones_cleanup_does_not_undo_it(gateway, runner):
    make_charger(charge_point_id="CP-TWICE", is_connected=False)
    old_cp, old_ws, _ = runner.run(open_client(ws_url(gateway), "CP-TWICE", "1.6"))
    first_token = wait_for(lambda: fresh("CP-TWICE").connection_token)

    new_cp, new_ws, _ = runner.run(open_client(ws_url(gateway), "CP-TWICE", "1.6"))

    runner.run(old_ws.wait_closed())
    assert old_ws.close_code == 1000 and "replaced" in old_ws.close_reason
    c = wait_for(lambda: (c := fresh("CP-TWICE")).connection_token not in ("", first_token) and c)
    assert c.is_connected
    # Once the old socket's handler has finished its clean-up, write everything out.
    wait_for(lambda: len(gateway._server.handler_tasks) == 1, message="old handler done")
    runner.run(gateway.recorder.flush())
    c = fresh("CP-TWICE")
    assert c.is_connected and c.connection_token not in ("", first_token)
    assert commands.is_connected("CP-TWICE")

    # Commands go to the new socket.
    assert commands.trigger_boot_notification("CP-TWICE", timeout=5).ok
    assert [name for name, _ in new_cp.received] == ["TriggerMessage"]
    assert old_cp.received == []
    assert runner.run(new_cp.call(call16.Heartbeat())).current_time

    runner.run(new_ws.close())
    wait_for(lambda: not fresh("CP-TWICE").is_connected, message="disconnected at last")
    assert not commands.is_connected("CP-TWICE")
