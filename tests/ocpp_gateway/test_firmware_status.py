"""A charger's FirmwareStatusNotification is recorded: self-healing never restarts a
charger in the middle of an update (Wallbox's own warning: it can brick it)."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargers.models import Charger
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url

pytestmark = pytest.mark.django_db(transaction=True)


def firmware(charger) -> tuple[str, bool]:
    charger.refresh_from_db()
    return charger.firmware_status, charger.firmware_updating()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_an_update_in_progress_is_recorded_and_its_end_too(gateway, runner, version):
    charger = make_charger(charge_point_id=f"CP-FW-{version}", is_connected=False)
    payloads = call16 if version == "1.6" else call201

    async def report(status):
        cp, ws, reader = await open_client(ws_url(gateway), charger.charge_point_id, version)
        await cp.call(payloads.FirmwareStatusNotification(status=status))
        await ws.close()
        reader.cancel()

    runner.run(report("Installing"))
    wait_for(lambda: firmware(charger) == ("Installing", True), message="Installing recorded")

    runner.run(report("Installed"))
    wait_for(lambda: firmware(charger) == ("Installed", False), message="Installed recorded")
    assert Charger.objects.get(pk=charger.pk).firmware_status_at is not None
