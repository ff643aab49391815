"""POST v3/chargers/{id}/remote-action: action 3 restarts through the restart service;
every other action is refused, naming it."""

import pytest

from restarts.models import RestartJob, RestartRequest
from tests.api.conftest import bearer


def act(client, user, charger_id, body='{"action":3}'):
    # As the wallbox client sends it: a raw JSON string, its own content type.
    return client.post(
        f"/v3/chargers/{charger_id}/remote-action",
        body,
        content_type="application/json;charset=UTF-8",
        **bearer(user),
    )


def test_action_3_restarts_the_charger_through_the_restart_service(client, rfleet):
    charger = rfleet.ready[0]
    response = act(client, rfleet.admin, charger.pk)
    assert response.status_code == 202
    result = response.json()["result"]
    job = RestartJob.objects.get(pk=result["job_id"])
    assert job.charger == charger and job.state == "queued"
    assert job.request.source == "api" and job.request.requested_by == rfleet.admin
    status = client.get(f"/chargers/status/{charger.pk}", **bearer(rfleet.admin)).json()
    assert (status["state"], status["status_id"]) == ("restarting", 166)


def test_one_charger_needs_no_business_subscription(client, rfleet):
    assert act(client, rfleet.basic_admin, rfleet.basic[0].pk).status_code == 202


@pytest.mark.parametrize(
    ("action", "named"),
    [
        (4, "factory reset"),
        (2, "pause charging"),
        (1, "resume charging"),
        (5, "update"),
        (77, "77"),
    ],
)
def test_other_actions_are_refused_naming_the_action(client, rfleet, action, named):
    response = act(client, rfleet.admin, rfleet.ready[0].pk, f'{{"action":{action}}}')
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unsupported_action"
    assert str(action) in body["detail"]
    with_english = client.post(
        f"/v3/chargers/{rfleet.ready[0].pk}/remote-action",
        f'{{"action":{action}}}',
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
        **bearer(rfleet.admin),
    )
    assert named in with_english.json()["detail"]
    assert not RestartRequest.objects.exists()


@pytest.mark.parametrize(
    ("who", "charger", "status", "code"),
    [
        ("plain", "ready", 403, "not_allowed"),
        ("admin", "offline", 409, "not_connected"),
        ("admin", "legacy", 422, "no_remote_restart"),
    ],
)
def test_a_charger_that_cannot_be_restarted_now_gets_a_reason(
    client, rfleet, who, charger, status, code
):
    target = getattr(rfleet, charger)
    target = target[0] if isinstance(target, list) else target
    response = act(client, getattr(rfleet, who), target.pk)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert not RestartJob.objects.exists()


def test_already_restarting_is_409(client, rfleet):
    assert act(client, rfleet.admin, rfleet.ready[0].pk).status_code == 202
    again = act(client, rfleet.admin, rfleet.ready[0].pk)
    assert again.status_code == 409
    assert again.json()["code"] == "restarting"


@pytest.mark.parametrize("charger", ["foreign", "elsewhere"])
def test_a_charger_you_cannot_see_is_404_whatever_the_action(client, rfleet, charger):
    target = getattr(rfleet, charger)
    for body in ('{"action":3}', '{"action":4}'):
        response = act(client, rfleet.admin, target.pk, body)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert not RestartJob.objects.exists()


@pytest.mark.parametrize("body", ["not json", '{"action":"restart"}', "[3]", "{}"])
def test_a_bad_body_is_a_4xx_not_a_crash(client, rfleet, body):
    response = act(client, rfleet.admin, rfleet.ready[0].pk, body)
    assert response.status_code in (400, 422)
    assert not RestartJob.objects.exists()


def test_without_a_token_it_is_401(client, rfleet):
    response = client.post(
        f"/v3/chargers/{rfleet.ready[0].pk}/remote-action",
        '{"action":3}',
        content_type="application/json",
    )
    assert response.status_code == 401
