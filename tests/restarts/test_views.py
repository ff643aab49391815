"""The window, OKAY and the history, as the browser (HTMX) and a bare POST see them."""

import json
import re

from restarts.models import RestartJob, RestartRequest

HTMX = {"HX-Request": "true"}


def window(client, chargers, **params):
    return client.get(
        "/restarts/window/", {"charger": [c.pk for c in chargers], **params}, headers=HTMX
    )


def listed(response):
    return re.findall(r'<span class="restart-name">([^<]+)</span>', response.content.decode())


def okay(client, chargers, key="w1", mode="default"):
    return client.post(
        "/restarts/confirm/",
        {"charger": [c.pk for c in chargers], "idempotency_key": key, "mode": mode},
        headers=HTMX,
    )


def test_the_window_lists_only_the_eligible_and_says_in_one_line_why_others_are_not(client, fleet):
    client.force_login(fleet.admin)
    asked = [*fleet.ready, fleet.offline, fleet.legacy, fleet.foreign]
    response = window(client, asked)
    body = response.content.decode()
    assert response.status_code == 200
    assert listed(response) == ["Syd 01", "Syd 02", "Syd 03"]
    assert '<h2 id="restart-dialog-title" tabindex="-1">Genstart oplader</h2>' in body
    assert "Udeladt: 3 (1 ikke fundet, 1 ikke forbundet, 1 kan ikke fjerngenstartes)." in body
    assert 'aria-label="Fjern Syd 02"' in body
    assert fleet.foreign.name not in body and fleet.foreign.charge_point_id not in body
    assert "Genstart nu" not in body  # nobody is charging


def test_a_charging_charger_is_marked_and_restart_now_is_offered(client, fleet):
    client.force_login(fleet.admin)
    body = window(client, [fleet.charging, fleet.ready[0]]).content.decode()
    assert "lader nu: genstartes når opladningen slutter" in body
    assert 'name="mode" value="now"' in body and "Genstart nu" in body


def test_okay_is_disabled_when_nothing_can_be_restarted(client, fleet):
    client.force_login(fleet.admin)
    body = window(client, [fleet.offline]).content.decode()
    assert re.search(r'value="default" class="primary" data-restart-submit\s+disabled', body)


def test_everything_matching_the_filter_can_be_asked_for(client, fleet):
    client.force_login(fleet.admin)
    response = client.get("/restarts/window/", {"scope": "filter", "q": "Syd 0"}, headers=HTMX)
    assert listed(response) == ["Syd 01", "Syd 02", "Syd 03"]


def test_okay_starts_the_restarts_and_tells_the_page_to_close_and_refresh(client, fleet):
    client.force_login(fleet.admin)
    response = okay(client, fleet.ready)
    assert response.status_code == 200
    trigger = json.loads(response.headers["HX-Trigger"])
    assert trigger["restartStarted"]["message"] == "Opladere der genstartes: 3."
    assert RestartJob.objects.filter(state="queued").count() == 3
    rows = client.get("/chargers/", headers=HTMX).content.decode()
    assert rows.count(">Genstarter</span>") == 3


def test_a_double_click_on_okay_creates_nothing_twice(client, fleet):
    client.force_login(fleet.admin)
    first, second = okay(client, fleet.ready, key="same"), okay(client, fleet.ready, key="same")
    assert first.status_code == second.status_code == 200
    assert RestartRequest.objects.count() == 1 and RestartJob.objects.count() == 3


def test_okay_checks_again(client, fleet):
    client.force_login(fleet.admin)
    assert listed(window(client, fleet.ready[:1])) == ["Syd 01"]
    fleet.ready[0].is_connected = False
    fleet.ready[0].save(update_fields=["is_connected"])
    response = okay(client, fleet.ready[:1])
    assert response.status_code == 409
    assert "Intet blev genstartet" in response.content.decode()
    assert "HX-Trigger" not in response.headers
    assert not RestartJob.objects.exists()


def test_a_plain_user_is_refused_by_the_window_and_by_okay(client, fleet):
    client.force_login(fleet.plain)
    assert window(client, fleet.ready).status_code == 403
    response = okay(client, fleet.ready)
    assert response.status_code == 403
    assert "Du må ikke genstarte opladere." in response.content.decode()
    assert not RestartRequest.objects.exists()


def test_ids_outside_your_groups_are_refused_as_not_found_and_leak_nothing(client, fleet):
    client.force_login(fleet.admin)
    for response in (
        window(client, [fleet.foreign]),
        okay(client, [fleet.foreign, fleet.elsewhere]),
    ):
        body = response.content.decode()
        assert response.status_code == 404
        assert "ikke fundet" in body or "som ikke findes" in body
        for charger in (fleet.foreign, fleet.elsewhere):
            assert charger.name not in body and charger.charge_point_id not in body
    assert not RestartRequest.objects.exists()


def test_several_without_business_are_refused_a_single_one_from_its_page_is_not(client, fleet):
    client.force_login(fleet.basic_admin)
    response = okay(client, fleet.basic)
    assert response.status_code == 409
    assert "Wallbox-erhverv" in response.content.decode()
    assert okay(client, fleet.basic[:1], key="single").status_code == 200


def test_okay_needs_the_csrf_token(fleet):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(fleet.admin)
    assert okay(strict, fleet.ready).status_code == 403
    assert not RestartRequest.objects.exists()


def test_without_htmx_okay_redirects_to_the_page_with_a_message(client, fleet):
    client.force_login(fleet.admin)
    response = client.post(
        "/restarts/confirm/", {"charger": [fleet.ready[0].pk], "idempotency_key": "x"}, follow=True
    )
    assert "Opladere der genstartes: 1." in response.content.decode()


def test_without_htmx_okay_goes_back_to_the_page_it_came_from_if_it_is_ours(client, fleet):
    client.force_login(fleet.admin)
    charger = fleet.ready[0]
    # The window opened on the charger's own page carries that page along.
    window = client.get(
        "/restarts/window/",
        {"charger": [charger.pk]},
        headers={**HTMX, "HX-Current-URL": f"http://testserver/chargers/{charger.pk}/"},
    ).content.decode()
    assert f'name="next" value="/chargers/{charger.pk}/"' in window
    sent = {"charger": [charger.pk], "idempotency_key": "back", "next": f"/chargers/{charger.pk}/"}
    response = client.post("/restarts/confirm/", sent)
    assert response.status_code == 302 and response["Location"] == f"/chargers/{charger.pk}/"
    # Somewhere else is never a destination: Opladere instead.
    for elsewhere in ("https://evil.example/", "//evil.example/x"):
        sent = {"charger": [fleet.ready[1].pk], "idempotency_key": elsewhere, "next": elsewhere}
        response = client.post("/restarts/confirm/", sent)
        assert response.status_code == 302 and response["Location"] == "/chargers/"
        RestartJob.objects.filter(charger=fleet.ready[1]).delete()


def test_history_shows_your_groups_requests_with_their_outcomes_only(client, fleet):
    client.force_login(fleet.super_admin)
    okay(client, [fleet.ready[0], fleet.elsewhere], key="both")
    RestartJob.objects.filter(charger=fleet.ready[0]).update(state="done")
    client.force_login(fleet.admin)
    body = client.get("/restarts/history/").content.decode()
    assert "super" in body
    assert re.search(r"<td>1</td>\s*<td>1</td>\s*<td>0</td>", body)  # only the admin's job
    detail = client.get(f"/restarts/history/{RestartRequest.objects.get().pk}/")
    text = detail.content.decode()
    assert fleet.ready[0].name in text and fleet.elsewhere.name not in text
    client.force_login(fleet.basic_admin)
    assert "super" not in client.get("/restarts/history/").content.decode()
    assert client.get(f"/restarts/history/{RestartRequest.objects.get().pk}/").status_code == 404


def test_okay_takes_a_whole_filter_worth_of_ids(client, fleet):
    from chargers.models import Charger

    Charger.objects.bulk_create(
        Charger(
            charge_point_id=f"MANY-{i:04d}",
            name=f"Mange {i:04d}",
            group=fleet.site,
            is_connected=True,
        )
        for i in range(1200)
    )
    client.force_login(fleet.admin)
    many = list(Charger.objects.filter(name__startswith="Mange"))
    assert okay(client, many, key="many").status_code == 200
    assert RestartJob.objects.count() == 1200
