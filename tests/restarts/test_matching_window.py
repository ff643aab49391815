"""The window of "all matching the filter": a summary per group, a paged searchable list,
and an OKAY that posts the filter plus removals, decided again on the server."""

import json
import re

from django.test import Client

from chargers.models import Charger
from restarts.matching import MAX_REMOVALS
from restarts.models import RestartJob, RestartRequest
from tests.factories import make_charger, make_group

HTMX = {"HX-Request": "true"}


def many(group, n, prefix, **fields):
    return Charger.objects.bulk_create(
        Charger(
            charge_point_id=f"{prefix.upper()}-{i:04d}",
            name=f"{prefix} {i:04d}",
            group=group,
            **{"is_connected": True, **fields},
        )
        for i in range(n)
    )


def listed(body):
    return re.findall(r'<span class="restart-name">([^<]+)</span>', body)


def okay(client, filter_params, removed=(), key="m1", mode="default"):
    return client.post(
        "/restarts/confirm/",
        {
            "scope": "filter",
            **filter_params,
            "exclude": list(removed),
            "idempotency_key": key,
            "mode": mode,
        },
        headers=HTMX,
    )


def test_the_window_summarises_per_group_and_lists_one_page_not_every_charger(client, fleet):
    north = make_group(parent=fleet.site, name="Nord")
    many(fleet.site, 70, "Syd")
    many(north, 60, "Nord")
    many(north, 5, "Nord slukket", is_connected=False)
    client.force_login(fleet.admin)
    response = client.get("/restarts/window/", {"scope": "filter", "q": "Nord"}, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<strong data-restart-count>60</strong>" in body
    assert "Udeladt: 5 (5 ikke forbundet)." in body
    assert "<caption>Pr. gruppe</caption>" in body
    assert re.search(r'<th scope="row">Nord</th><td>60</td><td>5: 5 ikke forbundet</td>', body)
    assert "Syd" not in "".join(listed(body))  # only what the filter matches
    assert len(listed(body)) == 50  # one page, not 60 rows
    assert "Side 1 af 2" in body
    assert 'name="charger"' not in body  # the selection is the filter, not ids
    assert '<input type="hidden" name="q" value="Nord" data-restart-filter>' in body


def test_the_whole_site_is_summarised_group_by_group(client, fleet):
    many(fleet.site, 3, "Syd ekstra")
    client.force_login(fleet.admin)
    body = client.get("/restarts/window/", {"scope": "filter"}, headers=HTMX).content.decode()
    # ready ×3, charging, extra ×3 restart; offline and legacy are left out with reasons
    assert re.search(
        r'<th scope="row">P-hus Syd</th><td>7</td>'
        r"<td>2: 1 ikke forbundet, 1 kan ikke fjerngenstartes</td>",
        body,
    )
    assert "Havnen" not in body and "Fremmed" not in body  # not the admin's groups
    assert "Genstart nu" in body  # one of them is charging


def test_the_list_is_searched_and_paged_by_the_server(client, fleet):
    many(fleet.site, 120, "Syd")
    client.force_login(fleet.admin)
    page = client.get("/restarts/window/page/", {"scope": "filter", "q": "Syd", "find": "Syd 0042"})
    assert listed(page.content.decode()) == ["Syd 0042"]
    third = client.get("/restarts/window/page/", {"scope": "filter", "q": "Syd", "page": 3})
    names = listed(third.content.decode())
    # 3 ready + the charging one + 120 = 124 restart; the third page holds the last 24
    assert len(names) == 24 and "Side 3 af 3" in third.content.decode()
    none = client.get("/restarts/window/page/", {"scope": "filter", "q": "Syd", "find": "zzz"})
    assert "Ingen oplader i listen passer til søgningen." in none.content.decode()


def test_okay_restarts_what_matches_minus_the_removed_ones(client, fleet):
    chargers = many(fleet.site, 40, "Mange")
    client.force_login(fleet.admin)
    removed = [chargers[0].pk, chargers[1].pk]
    response = okay(client, {"q": "Mange"}, removed)
    assert response.status_code == 200
    trigger = json.loads(response.headers["HX-Trigger"])
    assert trigger["restartStarted"]["message"] == "Opladere der genstartes: 38."
    restarted = set(RestartJob.objects.values_list("charger_id", flat=True))
    assert restarted == {c.pk for c in chargers} - set(removed)
    request = RestartRequest.objects.get()
    assert sorted(request.asked_ids) == sorted(c.pk for c in chargers[2:])


def test_okay_decides_again_with_what_is_true_now(client, fleet):
    chargers = many(fleet.site, 10, "Mange")
    client.force_login(fleet.admin)
    client.get("/restarts/window/", {"scope": "filter", "q": "Mange"}, headers=HTMX)
    Charger.objects.filter(pk=chargers[3].pk).update(is_connected=False)  # went away meanwhile
    make_charger(fleet.other_site, name="Mange fremmed")  # matches, but not the admin's
    assert okay(client, {"q": "Mange"}).status_code == 200
    restarted = set(RestartJob.objects.values_list("charger_id", flat=True))
    assert restarted == {c.pk for c in chargers} - {chargers[3].pk}


def test_a_foreign_group_in_the_filter_matches_nothing_and_starts_nothing(client, fleet):
    client.force_login(fleet.admin)
    # The same answer as the window's (and as for a group that does not exist).
    for group in (fleet.foreign_site.pk, 999_999):
        response = okay(client, {"group": group})
        assert response.status_code == 404
        assert "filteret nævner en gruppe, der ikke findes" in response.content.decode()
        assert fleet.foreign.name not in response.content.decode()
    assert not RestartRequest.objects.exists() and not RestartJob.objects.exists()
    window = client.get(
        "/restarts/window/", {"scope": "filter", "group": fleet.foreign_site.pk}, headers=HTMX
    )
    assert window.status_code == 404 and fleet.foreign.name not in window.content.decode()
    assert "filteret nævner en gruppe, der ikke findes" in window.content.decode()


def test_removals_that_are_not_ids_are_refused_and_nothing_is_written(client, fleet):
    client.force_login(fleet.admin)
    response = okay(client, {"q": "Syd"}, ["12", "DROP TABLE"])
    assert response.status_code == 400
    assert "De fjernede opladere er ikke gyldige oplader-id&#x27;er." in response.content.decode()
    assert not RestartRequest.objects.exists() and not RestartJob.objects.exists()


def test_more_removals_than_a_window_holds_are_refused_with_its_reason(client, fleet):
    client.force_login(fleet.admin)
    removed = [str(n) for n in range(1, MAX_REMOVALS + 2)]
    response = okay(client, {"q": "Syd"}, removed)
    assert response.status_code == 400
    assert "For mange opladere fjernet på én gang." in response.content.decode()
    assert not RestartRequest.objects.exists() and not RestartJob.objects.exists()


def test_the_same_window_twice_restarts_once(client, fleet):
    client.force_login(fleet.admin)
    assert okay(client, {"q": "Syd 0"}, key="twice").status_code == 200
    assert okay(client, {"q": "Syd 0"}, key="twice").status_code == 200
    assert RestartRequest.objects.count() == 1 and RestartJob.objects.count() == 3


def test_a_plain_user_is_refused_the_list_and_okay(client, fleet):
    client.force_login(fleet.plain)
    assert client.get("/restarts/window/page/", {"scope": "filter"}).status_code == 403
    assert client.get("/restarts/window/", {"scope": "filter"}, headers=HTMX).status_code == 403
    assert okay(client, {"q": "Syd"}).status_code == 403
    assert not RestartJob.objects.exists()


def test_okay_for_all_matching_needs_the_csrf_token(fleet):
    client = Client(enforce_csrf_checks=True)
    client.force_login(fleet.admin)
    assert okay(client, {"q": "Syd"}).status_code == 403
    assert not RestartJob.objects.exists()


def test_several_without_business_are_left_out_in_the_summary(client, fleet):
    client.force_login(fleet.basic_admin)
    body = client.get("/restarts/window/", {"scope": "filter"}, headers=HTMX).content.decode()
    assert "<strong data-restart-count>0</strong>" in body
    assert "2 flere ad gangen kræver et Wallbox-erhverv-abonnement" in body
    assert re.search(r'value="default" class="primary" data-restart-submit\s+disabled', body)


def test_okay_for_thousands_answers_before_the_first_wave_which_a_task_releases(
    client, fleet, restarts_queue, settings, django_capture_on_commit_callbacks
):
    from restarts import queue
    from restarts.waves import restart_jobs_release

    settings.RESTART_SEND_BATCH = 5  # "thousands": more than one send batch
    many(fleet.site, 12, "Mange")
    client.force_login(fleet.admin)
    with django_capture_on_commit_callbacks(execute=True):
        assert okay(client, {"q": "Mange"}).status_code == 200
    jobs = RestartJob.objects.all()
    assert jobs.count() == 12 and not jobs.filter(released_at__isnull=False).exists()
    queued = b"".join(restarts_queue.lrange("restarts", 0, -1))
    assert queue.RELEASE_WAITING_JOBS.encode() in queued  # the wave follows in the background
    assert len(restart_jobs_release()) == 10  # RESTART_WAVE_SIZE of the group
