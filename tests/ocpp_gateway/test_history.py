"""The gateway records a charger's connection history: what it applied, in order."""

from datetime import timedelta

from django.utils import timezone
from ocpp.v16 import call as call16

from chargers.models import ChargerEvent
from chargers.tasks import prune_history
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url


def kinds(charger) -> list[str]:
    return list(
        ChargerEvent.objects.filter(charger=charger)
        .order_by("at", "pk")
        .values_list("kind", flat=True)
    )


def test_gateway_records_connect_boot_disconnect_as_history(gateway, runner):
    charger = make_charger(charge_point_id="CP-HIST", is_connected=False)
    cp, websocket, _ = runner.run(open_client(ws_url(gateway), "CP-HIST", "1.6"))
    boot = call16.BootNotification(charge_point_model="Pulsar Plus", charge_point_vendor="Wallbox")
    assert runner.run(cp.call(boot)).status == "Accepted"
    runner.run(websocket.close())
    wait_for(lambda: kinds(charger) == ["connected", "booted", "disconnected"], timeout=20)
    booted = ChargerEvent.objects.get(charger=charger, kind="booted")
    assert booted.detail == ""  # OCPP 1.6 gives no boot reason


def test_replaced_socket_close_records_no_disconnect(gateway, runner):
    charger = make_charger(charge_point_id="CP-TWICE", is_connected=False)
    _old_cp, old_ws, _ = runner.run(open_client(ws_url(gateway), "CP-TWICE", "1.6"))
    wait_for(lambda: kinds(charger) == ["connected"], timeout=20)
    _new_cp, new_ws, _ = runner.run(open_client(ws_url(gateway), "CP-TWICE", "1.6"))
    runner.run(old_ws.wait_closed())
    # The old socket's clean-up is done and written: still only the two connects.
    wait_for(lambda: len(gateway._server.handler_tasks) == 1, message="old handler done")
    runner.run(gateway.recorder.flush())
    assert kinds(charger) == ["connected", "connected"]

    runner.run(new_ws.close())
    wait_for(lambda: kinds(charger) == ["connected", "connected", "disconnected"], timeout=20)


def test_fault_on_any_connector_records_faulted_then_recovered(gateway, runner):
    charger = make_charger(charge_point_id="CP-FAULT", is_connected=False)
    cp, websocket, _ = runner.run(open_client(ws_url(gateway), "CP-FAULT", "1.6"))

    def status(connector, value):
        runner.run(
            cp.call(
                call16.StatusNotification(
                    connector_id=connector, error_code="NoError", status=value
                )
            )
        )
        runner.run(gateway.recorder.flush())

    status(1, "Available")
    status(1, "Faulted")
    status(2, "Faulted")  # still faulted: nothing new
    status(1, "Available")  # connector 2 still faulted
    assert kinds(charger) == ["connected", "faulted"]
    status(2, "Available")
    assert kinds(charger) == ["connected", "faulted", "recovered"]
    runner.run(websocket.close())


def test_history_older_than_the_setting_is_pruned(db, settings):
    settings.CHARGER_HISTORY_DAYS = 30
    charger = make_charger()
    now = timezone.now()
    for days in (40, 31, 29, 1):
        ChargerEvent.objects.create(
            charger=charger, at=now - timedelta(days=days), kind="connected"
        )
    assert prune_history() == 2
    left = sorted((now - at).days for at in ChargerEvent.objects.values_list("at", flat=True))
    assert left == [1, 29]
