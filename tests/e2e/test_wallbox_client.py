"""The unmodified `wallbox` client (0.9) against the live stack: sign in, list, read a
status, restart a connected simulated charger and see its job reach `done` once the
charger has booted again. Web (live server), worker, gateway and simulator are real
processes on loopback (tests/e2e/conftest.py)."""

import pytest
import requests
from wallbox import Statuses, Wallbox

from chargers.models import Charger
from restarts.models import RestartJob
from tenancy.models import Membership
from tests.factories import make_charger, make_group, make_member, make_org
from tests.helpers import wait_for

Role = Membership.Role
PASSWORD = "a-long-api-test-password"


@pytest.fixture
def world(transactional_db):
    org = make_org("Nordlys", plan="business")
    other_org = make_org("Andet", plan="business")
    site = make_group(org, name="P-hus Syd")
    other_site = make_group(other_org, name="Andet site")
    return {
        "admin": make_member(site, Role.ADMIN, username="api-admin", password=PASSWORD),
        "plain": make_member(site, Role.USER, username="api-plain", password=PASSWORD),
        "charger": make_charger(site, charge_point_id="CP-API-1", name="Syd 1", is_connected=False),
        "other": make_charger(
            other_site, charge_point_id="CP-API-X", name="Fremmed", is_connected=False
        ),
    }


def client_for(stack, username) -> Wallbox:
    wallbox = Wallbox(username, PASSWORD, requestGetTimeout=20)
    wallbox.baseUrl = wallbox.authUrl = stack.url("/")
    return wallbox


def test_the_wallbox_client_lists_reads_and_restarts_a_simulated_charger(
    stack, make_fleet_online, world, settings
):
    settings.API_RATE_LIMIT_PER_USER = 0  # this test polls; the limits have their own tests
    make_fleet_online(reboot_seconds=2.0)
    charger = Charger.objects.get(pk=world["charger"].pk)
    booted_before = charger.last_boot_at

    wallbox = client_for(stack, "api-admin")
    wallbox.authenticate()
    assert wallbox.getChargersList() == [charger.pk]  # not the other organisation's

    status = wallbox.getChargerStatus(charger.pk)
    assert Statuses(status["status_id"]) == Statuses.READY
    assert status["name"] == "Syd 1"
    # What the charger said in its BootNotification, as the gateway recorded it.
    assert charger.firmware_version and charger.serial_number
    assert status["config_data"]["serial_number"] == charger.serial_number
    assert status["config_data"]["software"]["currentVersion"] == charger.firmware_version
    assert status["config_data"]["remote_action"] is True

    answer = wallbox.restartCharger(charger.pk)
    job_id = answer["result"]["job_id"]

    def job_state():
        return RestartJob.objects.get(pk=job_id).state

    wait_for(lambda: job_state() == "done", timeout=60, message="the restart job to be done")
    charger.refresh_from_db()
    assert charger.last_boot_at > booted_before  # it really rebooted
    assert Statuses(wallbox.getChargerStatus(charger.pk)["status_id"]) == Statuses.READY
    detail = requests.get(
        stack.url(f"/api/v1/restarts/{answer['result']['restart_request_id']}"),
        headers=wallbox.headers,
        timeout=20,
    ).json()
    assert [job["state"] for job in detail["jobs"]] == ["done"]
    assert detail["jobs"][0]["accepted_at"] and detail["jobs"][0]["finished_at"]


def test_refusals_the_wallbox_client_sees(stack, make_fleet_online, world):
    make_fleet_online(reboot_seconds=2.0)
    plain = client_for(stack, "api-plain")
    plain.authenticate()
    with pytest.raises(requests.HTTPError) as refused:
        plain.restartCharger(world["charger"].pk)
    assert refused.value.response.status_code == 403
    assert not RestartJob.objects.exists()

    admin = client_for(stack, "api-admin")
    admin.authenticate()
    with pytest.raises(requests.HTTPError) as hidden:
        admin.getChargerStatus(world["other"].pk)
    assert hidden.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as factory_reset:
        requests.post(
            stack.url(f"/v3/chargers/{world['charger'].pk}/remote-action"),
            headers=admin.headers,
            data='{"action":4}',
            timeout=20,
        ).raise_for_status()
    assert factory_reset.value.response.status_code == 422


def test_an_expired_token_is_refused_and_the_client_refreshes_it(stack, world, settings):
    settings.API_TOKEN_TTL = 1
    wallbox = client_for(stack, "api-admin")
    wallbox.authenticate()
    first_token = wallbox.jwtToken

    def refused():
        try:
            wallbox.getChargersList()
        except requests.HTTPError as exc:
            return exc.response.status_code == 401
        return False

    wait_for(refused, timeout=10, interval=0.25, message="the access token to expire")
    wallbox.authenticate()  # its token has expired, its refresh token has not: it refreshes
    assert wallbox.jwtToken != first_token
    assert wallbox.getChargersList() == [world["charger"].pk]
