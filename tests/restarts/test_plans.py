"""Planned restarts: Planlæg in the window, `not_before` in the API, the plan in PostgreSQL
released by the beat's task, cancellable until it starts, and the list of requests."""

import re
import zoneinfo
from datetime import datetime, timedelta

from django.utils import timezone

from api import tokens
from restarts import plans, tasks
from restarts.models import RestartJob, RestartRequest
from restarts.progress import bulk_restarts_under_way
from restarts.services import restart_request_create

State = RestartJob.State
HTMX = {"HX-Request": "true"}
CPH = zoneinfo.ZoneInfo("Europe/Copenhagen")


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue_pair(user).token}"}


def plan(fleet, chargers, hours=2, **kwargs):
    not_before = timezone.now() + timedelta(hours=hours)
    made = restart_request_create(
        user=fleet.admin, charger_ids=[c.pk for c in chargers], not_before=not_before, **kwargs
    )
    return made.request, list(made.request.jobs.order_by("charger__name"))


def test_the_coming_night_at_three_in_the_organisations_time_zone():
    evening = datetime(2026, 12, 2, 22, 15, tzinfo=CPH)
    assert plans.default_plan(CPH, now=evening) == datetime(2026, 12, 3, 3, 0, tzinfo=CPH)
    early = datetime(2026, 12, 2, 1, 30, tzinfo=CPH)
    assert plans.default_plan(CPH, now=early) == datetime(2026, 12, 2, 3, 0, tzinfo=CPH)


def test_the_window_offers_now_or_plan_and_okay_plans_it(client, fleet, restarts_queue):
    client.force_login(fleet.admin)
    ids = [c.pk for c in fleet.ready[:2]]
    window = client.get("/restarts/window/", {"charger": ids}, headers=HTMX).content.decode()
    assert "<legend>Hvornår</legend>" in window
    assert re.search(r'<input type="radio" name="when" value="now" checked> Nu', window)
    assert re.search(r'<input type="radio" name="when" value="plan"> Planlæg', window)
    assert "Dato og tid (Europe/Copenhagen)" in window
    preset = re.search(r'name="not_before" value="([^"]+)"', window).group(1)
    assert preset.endswith("T03:00")

    tomorrow = timezone.localtime(timezone.now(), CPH).date() + timedelta(days=1)
    response = client.post(
        "/restarts/confirm/",
        {
            "charger": ids,
            "mode": "default",
            "idempotency_key": "plan-1",
            "when": "plan",
            "not_before": f"{tomorrow}T03:00",
            "plan_tz": "Europe/Copenhagen",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "Opladere planlagt til genstart" in response.content.decode()
    req = RestartRequest.objects.get(idempotency_key="plan-1")
    assert req.not_before == datetime.combine(tomorrow, datetime.min.time(), CPH).replace(hour=3)
    assert set(req.jobs.values_list("state", flat=True)) == {State.PLANNED}
    assert restarts_queue.llen("restarts") == 0  # nothing sent: the plan waits in PostgreSQL

    # The rows say when, and stay usable (not disabled, no fast polling).
    rows = client.get("/chargers/", headers=HTMX).content.decode()
    row = re.search(rf'<tr data-charger-id="{ids[0]}".*?</tr>', rows, re.S).group(0)
    assert 'data-restart-state="planned">Planlagt ' in row
    assert 'aria-disabled="true"' not in row and "every 2s" not in rows
    assert "Planlagt til" in client.get("/restarts/history/").content.decode()


def test_a_plan_in_the_past_or_too_far_ahead_is_refused_with_its_reason(client, fleet):
    client.force_login(fleet.admin)
    yesterday = timezone.localtime(timezone.now(), CPH) - timedelta(days=1)
    posted = {
        "charger": [fleet.ready[0].pk],
        "mode": "default",
        "when": "plan",
        "not_before": f"{yesterday:%Y-%m-%dT%H:%M}",
        "plan_tz": "Europe/Copenhagen",
    }
    response = client.post("/restarts/confirm/", posted, headers=HTMX)
    assert response.status_code == 422
    assert "Det planlagte tidspunkt skal ligge i fremtiden." in response.content.decode()
    response = client.post("/restarts/confirm/", {**posted, "not_before": "i morgen"}, headers=HTMX)
    assert response.status_code == 422
    assert not RestartRequest.objects.exists()


def test_the_api_takes_not_before_with_an_offset_within_30_days(client, fleet):
    auth = bearer(fleet.admin)
    url = "/api/v1/restarts"
    soon = (timezone.now() + timedelta(hours=5)).astimezone(CPH).replace(microsecond=0)
    body = {"charger_ids": [fleet.ready[0].pk], "not_before": soon.isoformat()}
    made = client.post(url, body, content_type="application/json", **auth)
    assert made.status_code == 201
    assert made.json()["jobs"][0]["state"] == "planned"
    assert datetime.fromisoformat(made.json()["not_before"]) == soon

    for bad, words in (
        ((timezone.now() - timedelta(minutes=1)).isoformat(), "fremtiden"),
        ((timezone.now() + timedelta(days=31)).isoformat(), "30 dage"),
        ((timezone.now() + timedelta(days=1)).replace(tzinfo=None).isoformat(), "tidszone"),
    ):
        answer = client.post(
            url,
            {"charger_ids": [fleet.ready[1].pk], "not_before": bad},
            content_type="application/json",
            **auth,
        )
        assert answer.status_code == 422, bad
        assert answer.json()["code"] == "bad_plan" and words in answer.json()["detail"]
    bad = {"charger_ids": [fleet.ready[1].pk], "not_before": "tonight"}
    assert client.post(url, bad, content_type="application/json", **auth).status_code == 422
    assert RestartRequest.objects.count() == 1


def test_the_beat_task_releases_a_plan_when_it_is_due_and_not_before(fleet, restarts_queue):
    req, jobs = plan(fleet, fleet.ready[:2], hours=1)
    assert tasks.release_planned() == 0
    assert {j.state for j in req.jobs.all()} == {State.PLANNED}
    # An hour later (the plan is in the database, whatever restarted meanwhile).
    later = req.not_before + timedelta(seconds=1)
    released = plans.restart_jobs_release_planned(now=later)
    assert sorted(released) == sorted(j.pk for j in jobs)
    states = {(state, at is not None) for state, at in req.jobs.values_list("state", "released_at")}
    assert states == {(State.QUEUED, True)}  # queued and given their wave slots


def test_a_charger_with_a_plan_is_left_out_of_another_restart_saying_so(client, fleet):
    plan(fleet, fleet.ready[:1])
    client.force_login(fleet.admin)
    ids = [fleet.ready[0].pk, fleet.ready[1].pk]
    window = client.get("/restarts/window/", {"charger": ids}, headers=HTMX).content.decode()
    assert "Udeladt: 1 (1 har allerede en planlagt genstart)." in window
    answer = client.post(
        "/api/v1/restarts",
        {"charger_ids": [fleet.ready[0].pk]},
        content_type="application/json",
        **bearer(fleet.admin),
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "planned")


def test_a_plan_is_cancelled_until_it_starts_and_stays_off_the_progress_bars(client, fleet):
    req, jobs = plan(fleet, fleet.ready[:2])
    assert bulk_restarts_under_way(fleet.admin) == []  # nothing under way yet
    body = client.post(f"/api/v1/restarts/{req.pk}/cancel", **bearer(fleet.admin)).json()
    assert (sorted(body["cancelled"]), body["underway"]) == (sorted(j.pk for j in jobs), 0)
    assert plans.restart_jobs_release_planned(now=req.not_before + timedelta(seconds=1)) == []


def test_the_api_lists_requests_by_source_and_state_with_paging(client, fleet):
    planned, _jobs = plan(fleet, fleet.ready[:1])
    running = restart_request_create(
        user=fleet.admin, charger_ids=[fleet.ready[1].pk], source="api"
    ).request
    finished = restart_request_create(user=fleet.admin, charger_ids=[fleet.ready[2].pk]).request
    finished.jobs.update(state=State.DONE, finished_at=timezone.now())
    elsewhere = restart_request_create(user=fleet.super_admin, charger_ids=[fleet.elsewhere.pk])
    auth = bearer(fleet.admin)

    def ids(**params):
        answer = client.get("/api/v1/restarts", params, **auth)
        assert answer.status_code == 200
        return [item["id"] for item in answer.json()["items"]]

    assert ids() == [finished.pk, running.pk, planned.pk]  # never another group's
    assert elsewhere.request.pk not in ids()
    assert ids(state="planned") == [planned.pk]
    assert ids(state="running") == [running.pk]
    assert ids(state="finished") == [finished.pk]
    assert ids(source="api") == [running.pk]
    page = client.get("/api/v1/restarts", {"page": 2, "page_size": 2}, **auth).json()
    assert (page["count"], page["pages"], [i["id"] for i in page["items"]]) == (3, 2, [planned.pk])
    item = client.get("/api/v1/restarts", {"state": "planned"}, **auth).json()["items"][0]
    assert item["state"] == "planned" and item["jobs"]["planned"] == 1
    assert item["not_before"] is not None
    assert client.get("/api/v1/restarts", {"state": "soon"}, **auth).status_code == 422
    assert client.get("/api/v1/restarts", {"page_size": 1000}, **auth).status_code == 422


def test_rows_show_the_plan_in_the_organisations_time_zone(client, fleet):
    fleet.org.time_zone = "Europe/London"
    fleet.org.save()
    london = zoneinfo.ZoneInfo("Europe/London")
    local_now = timezone.localtime(timezone.now(), london)
    three = plans.default_plan(london, now=local_now)
    if three - local_now > timedelta(hours=22):  # keep it within a day: shown as a time
        three -= timedelta(days=1)
        three = max(three, local_now + timedelta(minutes=5)).replace(second=0, microsecond=0)
    restart_request_create(user=fleet.admin, charger_ids=[fleet.ready[0].pk], not_before=three)
    client.force_login(fleet.admin)
    rows = client.get("/chargers/", headers=HTMX).content.decode()
    assert f'data-restart-state="planned">Planlagt {three:%H:%M}</span>' in rows
    item = client.get("/api/v1/chargers", {"q": fleet.ready[0].name}, **bearer(fleet.admin))
    assert item.json()["items"][0]["restart"]["text"] == f"Planlagt {three:%H:%M}"


def test_all_matching_the_filter_can_be_planned_too(client, fleet):
    client.force_login(fleet.admin)
    window = client.get("/restarts/window/", {"scope": "filter", "q": "Syd"}, headers=HTMX)
    assert 'name="when" value="plan"' in window.content.decode()
    tomorrow = timezone.localtime(timezone.now(), CPH).date() + timedelta(days=1)
    response = client.post(
        "/restarts/confirm/",
        {
            "scope": "filter",
            "q": "Syd 0",
            "idempotency_key": "plan-matching",
            "mode": "default",
            "when": "plan",
            "not_before": f"{tomorrow}T03:00",
            "plan_tz": "Europe/Copenhagen",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    req = RestartRequest.objects.get(idempotency_key="plan-matching")
    assert req.not_before is not None and req.jobs.count() == 3
    assert set(req.jobs.values_list("state", flat=True)) == {State.PLANNED}
