"""POST /api/v1/restarts and GET /api/v1/restarts/{id}: the confirmation window's OKAY,
through another door. Same eligibility, Business rule, idempotency; the service decides."""

import json

import pytest

from restarts.eligibility import evaluate
from restarts.models import RestartJob, RestartRequest
from tenancy.models import AuditEvent
from tests.api.conftest import bearer

URL = "/api/v1/restarts"


def post(client, user, ids, key=None, **body):
    headers = bearer(user)
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    payload = json.dumps({"charger_ids": ids, **body})
    return client.post(URL, payload, content_type="application/json", **headers)


def test_an_admin_restarts_several_chargers_and_sees_who_was_left_out_and_why(client, rfleet):
    f = rfleet
    asked = [c.pk for c in f.ready] + [f.offline.pk, f.legacy.pk]
    response = post(client, f.admin, asked)
    assert response.status_code == 201
    body = response.json()
    assert body["replayed"] is False
    assert sorted(body["accepted"]) == sorted(c.pk for c in f.ready)
    assert {j["state"] for j in body["jobs"]} == {"queued"}
    left = {item["charger_id"]: item["code"] for item in body["left_out"]}
    assert left == {
        f.offline.pk: "not_connected",
        f.legacy.pk: "no_remote_restart",
    }
    assert all(item["reason"] for item in body["left_out"])
    restart_request = RestartRequest.objects.get(pk=body["id"])
    assert restart_request.source == "api"
    assert AuditEvent.objects.filter(action="restart.requested", object_id=str(body["id"])).exists()


@pytest.mark.parametrize("stranger", ["foreign", "unknown"])
def test_an_id_the_admin_cannot_see_refuses_the_whole_request(client, rfleet, stranger):
    f = rfleet
    bad = f.foreign.pk if stranger == "foreign" else 987654321
    before = (RestartRequest.objects.count(), RestartJob.objects.count())
    response = post(client, f.admin, [c.pk for c in f.ready] + [bad])
    # The same answer for another organisation's charger as for one that does not exist.
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert (RestartRequest.objects.count(), RestartJob.objects.count()) == before


def test_the_api_accepts_exactly_what_the_window_would_list(client, rfleet):
    f = rfleet
    asked = [c.pk for c in f.ready] + [f.charging.pk, f.offline.pk, f.legacy.pk]
    window = evaluate(f.admin, asked)
    body = post(client, f.admin, asked).json()
    assert sorted(body["accepted"]) == sorted(window.charger_ids)
    assert {i["charger_id"] for i in body["left_out"]} == set(asked) - set(window.charger_ids)


def test_several_chargers_need_business_one_does_not(client, rfleet):
    f = rfleet
    refused = post(client, f.basic_admin, [c.pk for c in f.basic])
    assert refused.status_code == 422
    assert refused.json()["code"] == "no_business"
    assert {i["code"] for i in refused.json()["left_out"]} == {"no_business"}
    assert not RestartJob.objects.exists()
    assert post(client, f.basic_admin, [f.basic[0].pk]).status_code == 201


@pytest.mark.parametrize(
    ("who", "charger", "status", "code"),
    [
        ("plain", "ready", 403, "not_allowed"),
        ("admin", "offline", 409, "not_connected"),
        ("admin", "legacy", 422, "no_remote_restart"),
        ("admin", "foreign", 404, "not_found"),
        ("admin", "elsewhere", 404, "not_found"),
    ],
)
def test_refusals_say_why_and_write_nothing(client, rfleet, who, charger, status, code):
    target = getattr(rfleet, charger)
    target = target[0] if isinstance(target, list) else target
    response = post(client, getattr(rfleet, who), [target.pk])
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not RestartRequest.objects.exists() and not RestartJob.objects.exists()


def test_a_charger_already_restarting_is_refused_with_409(client, rfleet):
    f = rfleet
    assert post(client, f.admin, [f.ready[0].pk]).status_code == 201
    again = post(client, f.admin, [f.ready[0].pk])
    assert again.status_code == 409
    assert again.json()["code"] == "restarting"


def test_a_retried_post_with_the_same_idempotency_key_returns_the_first_request(client, rfleet):
    f = rfleet
    ids = [f.ready[0].pk, f.ready[1].pk, f.offline.pk]
    first = post(client, f.admin, ids, key="retry-1")
    second = post(client, f.admin, ids, key="retry-1")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["replayed"] is True
    assert second.json()["accepted"] == first.json()["accepted"]
    assert [i["charger_id"] for i in second.json()["left_out"]] == [f.offline.pk]
    assert RestartRequest.objects.count() == 1
    assert RestartJob.objects.count() == 2


def test_without_a_key_a_second_post_is_a_second_request(client, rfleet):
    f = rfleet
    assert post(client, f.admin, [f.ready[0].pk]).status_code == 201
    assert post(client, f.admin, [f.ready[1].pk]).status_code == 201
    assert RestartRequest.objects.count() == 2


def test_mode_now_is_passed_to_the_service(client, rfleet):
    body = post(client, rfleet.admin, [rfleet.charging.pk], mode="now").json()
    assert RestartRequest.objects.get(pk=body["id"]).mode == "now"


@pytest.mark.parametrize(
    "payload",
    [
        {"charger_ids": []},
        {"charger_ids": ["x"]},
        {"charger_ids": [1], "mode": "sometime"},
        {},
    ],
)
def test_invalid_bodies_are_422_and_write_nothing(client, rfleet, payload):
    response = client.post(
        URL, json.dumps(payload), content_type="application/json", **bearer(rfleet.admin)
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert not RestartRequest.objects.exists()


def test_a_body_that_is_not_json_is_400(client, rfleet):
    response = client.post(URL, "{nope", content_type="application/json", **bearer(rfleet.admin))
    assert response.status_code == 400
    assert "Traceback" not in response.content.decode()


def test_get_shows_each_job_with_its_state_and_timestamps(client, rfleet):
    f = rfleet
    created = post(client, f.admin, [c.pk for c in f.ready]).json()
    job = RestartJob.objects.filter(request_id=created["id"]).first()
    RestartJob.objects.filter(pk=job.pk).update(state="rejected", detail="Rejected")
    body = client.get(f"{URL}/{created['id']}", **bearer(f.admin)).json()
    assert body["id"] == created["id"]
    states = {j["charger_id"]: j["state"] for j in body["jobs"]}
    assert states[job.charger_id] == "rejected"
    assert sorted(states) == sorted(c.pk for c in f.ready)
    for item in body["jobs"]:
        assert item["created_at"]
        assert {"sent_at", "accepted_at", "finished_at", "scheduled_at"} <= set(item)


def test_a_request_outside_your_groups_is_404_like_a_missing_one(client, rfleet):
    f = rfleet
    created = post(client, f.super_admin, [f.elsewhere.pk]).json()
    hidden = client.get(f"{URL}/{created['id']}", **bearer(f.admin))
    missing = client.get(f"{URL}/987654321", **bearer(f.admin))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert client.get(f"{URL}/{created['id']}", **bearer(f.plain)).status_code == 404


def test_a_super_admins_request_shows_a_group_admin_only_their_own_chargers(client, rfleet):
    f = rfleet
    created = post(client, f.super_admin, [f.ready[0].pk, f.elsewhere.pk]).json()
    assert len(created["accepted"]) == 2
    body = client.get(f"{URL}/{created['id']}", **bearer(f.admin)).json()
    assert body["accepted"] == [f.ready[0].pk]


class TestCsrf:
    """Token calls need no CSRF token; session calls do, like any form post."""

    def test_session_post_without_csrf_token_is_refused(self, rfleet):
        from django.test import Client

        browser = Client(enforce_csrf_checks=True)
        browser.force_login(rfleet.admin)
        payload = json.dumps({"charger_ids": [rfleet.ready[0].pk]})
        response = browser.post(URL, payload, content_type="application/json")
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_failed"
        assert not RestartRequest.objects.exists()

    def test_session_post_with_csrf_token_works(self, rfleet):
        from django.test import Client

        browser = Client(enforce_csrf_checks=True)
        browser.force_login(rfleet.admin)
        browser.get("/chargers/")  # the page sets the CSRF cookie
        token = browser.cookies["csrftoken"].value
        payload = json.dumps({"charger_ids": [rfleet.ready[0].pk]})
        response = browser.post(
            URL, payload, content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 201

    def test_token_post_needs_no_csrf_token(self, rfleet):
        from django.test import Client

        api_client = Client(enforce_csrf_checks=True)
        payload = json.dumps({"charger_ids": [rfleet.ready[0].pk]})
        response = api_client.post(
            URL, payload, content_type="application/json", **bearer(rfleet.admin)
        )
        assert response.status_code == 201
