"""GET /api/v1/chargers: visible chargers, paged and filtered like the Opladere page."""

from chargers.models import Charger
from tests.api.conftest import bearer
from tests.factories import make_charger

URL = "/api/v1/chargers"


def test_pages_cover_every_visible_charger_once_in_a_stable_order(client, people, tree):
    made = {make_charger(tree["a"], name=f"K{i:02d}").pk for i in range(7)}
    make_charger(tree["other_root"], name="K99")  # another organisation's: never listed
    seen = []
    for page in (1, 2, 3):
        body = client.get(URL, {"page": page, "page_size": 3}, **bearer(people["group_admin"]))
        body = body.json()
        assert (body["count"], body["pages"], body["page"]) == (7, 3, page)
        seen += [c["id"] for c in body["items"]]
    assert len(seen) == 7 and set(seen) == made
    beyond = client.get(URL, {"page": 9, "page_size": 3}, **bearer(people["group_admin"])).json()
    assert beyond["items"] == [] and beyond["count"] == 7


def test_page_size_is_bounded(client, people, fleet):
    response = client.get(URL, {"page_size": 10_000}, **bearer(people["super_admin"]))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


def test_filters_are_the_opladere_pages_search_group_status_and_sort(client, people, fleet, tree):
    user = people["super_admin"]
    make_charger(tree["b"], name="Faulty", last_status="Faulted")

    def names(**params):
        body = client.get(URL, params, **bearer(user)).json()
        return [c["name"] for c in body["items"]]

    assert names(q="alpha") == ["Alpha", "Alpha one"]
    assert names(q="SN-A") == ["Alpha"]
    assert names(group=tree["a"].pk) == ["Alpha", "Alpha one"]  # with its sub-group
    assert names(group=tree["a1"].pk) == ["Alpha one"]
    assert names(status="disconnected") == ["Bravo"]
    assert names(status="faulted") == ["Faulty"]
    assert names(status="connected", q="alpha") == ["Alpha", "Alpha one"]
    assert names(sort="-name") == ["Faulty", "Bravo", "Alpha one", "Alpha"]
    assert names(sort="group", q="l") == ["Alpha", "Alpha one", "Faulty"]


def test_an_unknown_filter_value_is_422_not_ignored(client, people, fleet):
    for params in ({"status": "sleeping"}, {"sort": "colour"}, {"group": "x"}):
        response = client.get(URL, params, **bearer(people["super_admin"]))
        assert response.status_code == 422, params


def test_restarting_chargers_show_it_and_can_be_filtered(client, people, fleet):
    from restarts.services import restart_request_create

    restart_request_create(user=people["group_admin"], charger_ids=[fleet["a"].pk])
    body = client.get(URL, {"status": "restarting"}, **bearer(people["super_admin"])).json()
    (item,) = body["items"]
    assert item["id"] == fleet["a"].pk
    assert (item["state"], item["wallbox_status"]) == ("restarting", 166)
    assert item["restart"]["busy"] is True and item["restart"]["state"] == "queued"


def test_filtering_by_a_group_one_cannot_see_gives_nothing(client, people, fleet, tree):
    body = client.get(URL, {"group": tree["other_root"].pk}, **bearer(people["group_admin"]))
    assert body.status_code == 200
    assert body.json()["count"] == 0


def test_each_charger_carries_its_connection_and_state(client, people, fleet):
    body = client.get(URL, {"q": "Bravo"}, **bearer(people["super_admin"])).json()
    (bravo,) = body["items"]
    assert bravo["connected"] is False
    assert bravo["state"] == "disconnected"
    assert bravo["wallbox_status"] == 0
    assert bravo["group"]["name"] == "B"
    assert bravo["security_profile"] == 1


def test_the_browser_session_works_too(client, people, fleet):
    client.force_login(people["group_admin"])
    body = client.get(URL).json()
    assert {c["id"] for c in body["items"]} == {fleet["a"].pk, fleet["a1"].pk}


def test_no_credentials_is_401_in_json_not_a_login_redirect(client, fleet):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_the_number_of_queries_does_not_grow_with_the_page(client, people, tree):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = bearer(people["super_admin"])

    def queries_for(page_size):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL, {"page_size": page_size}, **headers).status_code == 200
        return len(captured)

    for i in range(3):
        make_charger(tree["a"], name=f"Q{i}")
    few = queries_for(3)
    for i in range(40):
        make_charger(tree["b"], name=f"R{i}")
    assert queries_for(43) == few


def test_api_says_whether_a_charger_has_an_ocpp_password_and_filters_on_it(client, people, tree):
    make_charger(tree["a"], name="Open")
    make_charger(tree["a"], name="Locked", password="Abcdefghij0123456789")
    body = client.get(URL, **bearer(people["group_admin"])).json()
    assert {c["name"]: c["ocpp_password"] for c in body["items"]} == {
        "Locked": True,
        "Open": False,
    }
    open_only = client.get(URL, {"status": "no_password"}, **bearer(people["group_admin"]))
    assert [c["name"] for c in open_only.json()["items"]] == ["Open"]


def test_api_says_whether_a_charger_is_simulated(client, people, fleet):
    Charger.objects.filter(pk=fleet["a"].pk).update(simulated=True)
    body = client.get(URL, **bearer(people["super_admin"])).json()
    simulated = {item["id"]: item["simulated"] for item in body["items"]}
    assert simulated[fleet["a"].pk] is True
    assert simulated[fleet["a1"].pk] is False and simulated[fleet["b"].pk] is False
