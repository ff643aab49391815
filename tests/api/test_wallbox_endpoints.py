"""The Wallbox-compatible reads: groups with chargers, and one charger's status."""

import pytest

from api.statuses import STATUS_TABLE, charger_state
from tests.api.conftest import bearer
from tests.factories import make_charger


def test_groups_lists_visible_groups_with_their_chargers(client, people, fleet, tree):
    response = client.get("/v3/chargers/groups", **bearer(people["group_admin"]))
    assert response.status_code == 200
    groups = response.json()["result"]["groups"]
    assert [g["name"] for g in groups] == ["A", "A1"]
    chargers = {c["id"]: c for g in groups for c in g["chargers"]}
    assert set(chargers) == {fleet["a"].pk, fleet["a1"].pk}
    alpha = chargers[fleet["a"].pk]
    assert alpha["name"] == "Alpha"
    assert alpha["status"] == 161
    assert alpha["statusDescription"]
    assert alpha["uid"] == fleet["a"].charge_point_id


def test_each_charger_is_listed_once_even_for_a_super_admin_of_the_whole_tree(
    client, people, fleet
):
    groups = client.get("/v3/chargers/groups", **bearer(people["super_admin"])).json()
    ids = [c["id"] for g in groups["result"]["groups"] for c in g["chargers"]]
    assert sorted(ids) == sorted([fleet["a"].pk, fleet["a1"].pk, fleet["b"].pk])


def test_status_gives_wallbox_fields(client, people, fleet):
    charger = fleet["a"]
    charger.firmware_version = "6.4.12"
    charger.save()
    response = client.get(f"/chargers/status/{charger.pk}", **bearer(people["group_admin"]))
    assert response.status_code == 200
    body = response.json()
    assert body["status_id"] == 161
    assert body["name"] == "Alpha"
    config = body["config_data"]
    assert config["charger_id"] == charger.pk
    assert config["serial_number"] == "SN-A"
    assert config["name"] == "Alpha"
    assert config["software"]["currentVersion"] == "6.4.12"
    assert config["remote_action"] is True


def test_status_of_a_disconnected_charger_is_a_wallbox_disconnected_code(client, people, fleet):
    response = client.get(f"/chargers/status/{fleet['b'].pk}", **bearer(people["super_admin"]))
    assert response.json()["status_id"] in (0, 163)


def test_another_organisations_charger_is_404_exactly_like_a_missing_one(client, people, fleet):
    other = client.get(f"/chargers/status/{fleet['other'].pk}", **bearer(people["group_admin"]))
    missing = client.get("/chargers/status/999999999", **bearer(people["group_admin"]))
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


def test_sibling_group_charger_is_404_for_a_group_admin(client, people, fleet):
    response = client.get(f"/chargers/status/{fleet['b'].pk}", **bearer(people["group_admin"]))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("fields", "state", "code"),
    [
        ({"is_connected": False, "last_status": "Charging"}, "disconnected", 0),
        ({"last_status": "Available"}, "ready", 161),
        ({"last_status": ""}, "ready", 161),
        ({"last_status": "Charging", "session_active": True}, "charging", 194),
        ({"last_status": "Occupied", "session_active": True}, "charging", 194),
        ({"last_status": "Occupied"}, "connected", 180),
        ({"last_status": "Preparing"}, "connected", 180),
        ({"last_status": "SuspendedEV", "session_active": True}, "waiting_for_car", 181),
        ({"last_status": "SuspendedEVSE", "session_active": True}, "paused", 178),
        ({"last_status": "Faulted"}, "error", 14),
        ({"last_status": "Unavailable"}, "unavailable", 165),
        ({"last_status": "Reserved"}, "reserved", 179),
    ],
)
def test_our_states_map_to_wallbox_codes(client, people, tree, fields, state, code):
    charger = make_charger(tree["a"], **fields)
    assert charger_state(charger) == state
    assert STATUS_TABLE[state].code == code
    body = client.get(f"/chargers/status/{charger.pk}", **bearer(people["group_admin"])).json()
    assert (body["state"], body["status_id"]) == (state, code)


def test_every_code_in_the_table_is_one_the_wallbox_client_knows():
    from wallbox import Statuses

    for state, status in STATUS_TABLE.items():
        assert Statuses(status.code), state


def test_listing_groups_costs_the_same_queries_however_many_chargers(client, people, tree):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = bearer(people["super_admin"])

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/v3/chargers/groups", **headers).status_code == 200
        return len(captured)

    make_charger(tree["a"])
    few = queries()
    for group in ("a", "a1", "b"):
        for _ in range(10):
            make_charger(tree[group])
    assert queries() == few
