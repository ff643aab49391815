"""The unmodified `wallbox` client (0.9) against the live stack: sign in, list, read a
status, restart a connected simulated charger and see its job reach `done` once the
charger has booted again. Web (live server), worker, gateway and simulator are real
processes on loopback (tests/e2e/conftest.py)."""

import time

import pytest
import requests
from wallbox import Statuses, Wallbox

from api.models import RefreshToken, TokenFamily
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


def _expired(wallbox, field="jwtTokenTtl") -> bool:
    """The client's own view: it refreshes (or signs in) once its copy of the ttl has passed."""
    return time.time() * 1000 > getattr(wallbox, field) + 1000


def test_the_wallbox_client_keeps_working_across_several_rotations(stack, world, settings):
    settings.API_TOKEN_TTL = 1
    wallbox = client_for(stack, "api-admin")
    wallbox.authenticate()
    seen = {wallbox.jwtRefreshToken}
    for _ in range(3):
        wait_for(lambda: _expired(wallbox), timeout=10, interval=0.25, message="token expiry")
        wallbox.authenticate()  # refreshes, and keeps the rotated refresh token it is given
        assert wallbox.jwtRefreshToken not in seen
        seen.add(wallbox.jwtRefreshToken)
        assert wallbox.getChargersList() == [world["charger"].pk]
    assert TokenFamily.objects.count() == 1  # one sign-in, rotated three times
    assert RefreshToken.objects.filter(used_at__isnull=False).count() == 3


def test_a_replayed_refresh_token_logs_the_wallbox_client_out(stack, world, settings):
    settings.API_TOKEN_TTL = 1
    wallbox = client_for(stack, "api-admin")
    wallbox.authenticate()
    stolen = wallbox.jwtRefreshToken
    wait_for(lambda: _expired(wallbox), timeout=10, interval=0.25, message="token expiry")
    wallbox.authenticate()  # the client rotates: `stolen` is retired

    replay = requests.get(
        stack.url("/users/refresh-token"),
        headers={"Authorization": f"Bearer {stolen}", "Partner": "wallbox"},
        timeout=20,
    )
    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_token_reused"

    # The thief has nothing, and neither has the client: its sign-in was revoked.
    with pytest.raises(requests.HTTPError) as refused:
        wallbox.getChargersList()
    assert refused.value.response.status_code == 401
    wait_for(lambda: _expired(wallbox), timeout=10, interval=0.25, message="token expiry")
    with pytest.raises(requests.HTTPError) as logged_out:
        wallbox.authenticate()
    assert logged_out.value.response.status_code == 401
    # Signing in again (what a user of the client does) starts afresh.
    fresh = client_for(stack, "api-admin")
    fresh.authenticate()
    assert fresh.getChargersList() == [world["charger"].pk]


def test_the_wallbox_client_signs_in_again_when_its_family_ends(stack, world, settings):
    settings.API_TOKEN_TTL = 1
    settings.API_REFRESH_FAMILY_TTL = 3
    wallbox = client_for(stack, "api-admin")
    wallbox.authenticate()
    # Its refresh token ends with the family, and the client knows it from the ttl.
    assert wallbox.jwtRefreshTokenTtl <= (time.time() + 4) * 1000
    wait_for(
        lambda: _expired(wallbox, "jwtRefreshTokenTtl"),
        timeout=15,
        interval=0.25,
        message="the family's end",
    )
    wallbox.authenticate()  # with its password, as it does when its refresh token has expired
    assert wallbox.getChargersList() == [world["charger"].pk]
    assert TokenFamily.objects.count() == 2
