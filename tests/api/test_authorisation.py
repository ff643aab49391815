"""The authorisation table: every endpoint, every kind of caller.

Callers: anonymous, a plain user of the whole tree, an admin of another
organisation, an admin of group A (a group admin), and the tree's super-admin.
The charger used is in group A. Answers: the HTTP status, and for lists, which
chargers come back (never another organisation's).
"""

import pytest

from tests.api.conftest import basic, bearer

CALLERS = ["anonymous", "plain", "other_admin", "group_admin", "super_admin"]


def call(client, people, caller, method, url, **kwargs):
    headers = {} if caller == "anonymous" else bearer(people[caller])
    return getattr(client, method)(url, **headers, **kwargs)


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("anonymous", 401),
        ("plain", 200),
        ("other_admin", 404),
        ("group_admin", 200),
        ("super_admin", 200),
    ],
)
def test_charger_status(client, people, fleet, caller, expected):
    response = call(client, people, caller, "get", f"/chargers/status/{fleet['a'].pk}")
    assert response.status_code == expected


# caller -> the chargers (fleet keys) they are shown
VISIBLE = {
    "plain": {"a", "a1", "b"},
    "other_admin": {"other"},
    "group_admin": {"a", "a1"},
    "super_admin": {"a", "a1", "b"},
}


@pytest.mark.parametrize("caller", CALLERS)
def test_charger_groups(client, people, fleet, caller):
    response = call(client, people, caller, "get", "/v3/chargers/groups")
    if caller == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    ids = {c["id"] for g in response.json()["result"]["groups"] for c in g["chargers"]}
    assert ids == {fleet[k].pk for k in VISIBLE[caller]}


@pytest.mark.parametrize("caller", CALLERS)
def test_charger_list(client, people, fleet, caller):
    response = call(client, people, caller, "get", "/api/v1/chargers")
    if caller == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    assert {c["id"] for c in response.json()["items"]} == {fleet[k].pk for k in VISIBLE[caller]}


@pytest.mark.parametrize("caller", CALLERS)
def test_signin_and_refresh(client, people, caller):
    if caller == "anonymous":
        assert client.get("/users/signin").status_code == 401
        assert client.get("/users/refresh-token").status_code == 401
        return
    username = people[caller].username
    signed_in = client.get("/users/signin", **basic(username, "pw"))
    assert signed_in.status_code == 200
    refresh = signed_in.json()["data"]["attributes"]["refresh_token"]
    assert (
        client.get("/users/refresh-token", HTTP_AUTHORIZATION=f"Bearer {refresh}").status_code
        == 200
    )


def test_the_schema_and_docs_page_are_public(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


# ---- restarts: one charger in group A (connected, restartable) --------------------------------

# caller -> (HTTP status of POST /api/v1/restarts for A's charger, of the remote action)
RESTART_ANSWERS = {
    "anonymous": (401, 401),
    "plain": (403, 403),  # sees the charger, may not restart it
    "other_admin": (404, 404),  # cannot see it: as if it did not exist
    "group_admin": (201, 202),
    "super_admin": (201, 202),
}


@pytest.mark.parametrize("caller", CALLERS)
def test_bulk_restart(client, people, fleet, caller):
    response = call(
        client,
        people,
        caller,
        "post",
        "/api/v1/restarts",
        data={"charger_ids": [fleet["a"].pk]},
        content_type="application/json",
    )
    assert response.status_code == RESTART_ANSWERS[caller][0]


@pytest.mark.parametrize("caller", CALLERS)
def test_remote_action_restart(client, people, fleet, caller):
    response = call(
        client,
        people,
        caller,
        "post",
        f"/v3/chargers/{fleet['a'].pk}/remote-action",
        data={"action": 3},
        content_type="application/json",
    )
    assert response.status_code == RESTART_ANSWERS[caller][1]


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("anonymous", 401),
        ("plain", 404),  # the history is for those who manage the chargers
        ("other_admin", 404),
        ("group_admin", 200),
        ("super_admin", 200),
    ],
)
def test_restart_detail(client, people, fleet, caller, expected):
    from restarts.services import restart_request_create

    restart_request = restart_request_create(
        user=people["group_admin"], charger_ids=[fleet["a"].pk]
    ).request
    response = call(client, people, caller, "get", f"/api/v1/restarts/{restart_request.pk}")
    assert response.status_code == expected
