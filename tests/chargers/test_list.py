"""The Opladere page: rows, search, filters, sort, paging, restart state, constant queries."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from chargers.models import Charger
from restarts.models import RestartJob, RestartRequest
from tests.factories import make_group

HTMX = {"HX-Request": "true"}


def names(response):
    return re.findall(r'<a href="/chargers/\d+/">([^<]+)</a>', response.content.decode())


def restart(fleet, charger, state, **fields):
    req = RestartRequest.objects.create(
        requested_by=fleet.admin, requested_by_name="a", source="web", mode="default"
    )
    return RestartJob.objects.create(request=req, charger=charger, state=state, **fields)


def test_an_admin_sees_their_groups_chargers_with_a_checkbox_named_after_each(client, fleet):
    client.force_login(fleet.admin)
    body = client.get("/chargers/").content.decode()
    for charger in fleet.ready:
        assert (
            f'<label for="select-{charger.pk}" class="visually-hidden">Vælg {charger.name}' in body
        )
        assert charger.charge_point_id in body
    assert fleet.elsewhere.name not in body and fleet.foreign.name not in body
    assert 'aria-label="Genstart"' in body
    # The action bar starts hidden: it shows once a box is ticked.
    assert re.search(r'class="selection-bar" data-selection-bar hidden', body)


def test_a_plain_user_sees_the_chargers_but_no_restart_action(client, fleet):
    client.force_login(fleet.plain)
    body = client.get("/chargers/").content.decode()
    assert fleet.ready[0].name in body
    assert 'aria-label="Genstart"' not in body
    assert "Genstartshistorik" not in body
    # Nothing to act on, so nothing to tick either.
    assert 'type="checkbox"' not in body


def test_search_filters_and_sort(client, fleet):
    client.force_login(fleet.super_admin)
    assert names(client.get("/chargers/", {"q": "legacy"})) == ["Syd legacy"]
    assert names(client.get("/chargers/", {"q": fleet.ready[1].charge_point_id})) == ["Syd 02"]
    havnen = names(client.get("/chargers/", {"group": fleet.other_site.pk}))
    assert havnen == ["Havnen 01"]
    assert "Syd offline" in names(client.get("/chargers/", {"status": "disconnected"}))
    assert "Syd 01" not in names(client.get("/chargers/", {"status": "disconnected"}))
    assert names(client.get("/chargers/", {"status": "charging"})) == ["Syd lader"]
    ascending = names(client.get("/chargers/", {"sort": "name"}))
    assert names(client.get("/chargers/", {"sort": "-name"})) == ascending[::-1]
    # Another organisation's group id filters to nothing, never to its chargers.
    assert names(client.get("/chargers/", {"group": fleet.foreign_site.pk})) == []


def test_htmx_gets_only_the_rows_partial(client, fleet):
    client.force_login(fleet.admin)
    response = client.get("/chargers/", {"q": "Syd"}, headers=HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="charger-results"')
    assert "<html" not in body
    assert response.headers["Vary"].count("HX-Request") == 1


def test_rows_being_restarted_are_disabled_with_genstarter_and_the_rows_poll(client, fleet):
    client.force_login(fleet.admin)
    body = client.get("/chargers/", headers=HTMX).content.decode()
    assert "every 2s" not in body  # nothing restarting: no polling
    restart(fleet, fleet.ready[0], "accepted")
    body = client.get("/chargers/", headers=HTMX).content.decode()
    assert 'hx-trigger="restartStarted from:body, every 2s"' in body
    row = re.search(rf'<tr data-charger-id="{fleet.ready[0].pk}".*?</tr>', body, re.S).group(0)
    assert 'aria-disabled="true"' in row and "disabled>" in row and "Genstarter" in row


def test_failures_show_their_reason_and_scheduled_says_when(client, fleet):
    from django.utils import timezone

    now = timezone.now()
    restart(fleet, fleet.ready[0], "rejected", finished_at=now)
    restart(fleet, fleet.ready[1], "no_answer", finished_at=now)
    restart(fleet, fleet.ready[2], "not_back", finished_at=now)
    restart(fleet, fleet.charging, "scheduled")
    client.force_login(fleet.admin)
    body = client.get("/chargers/", headers=HTMX).content.decode()
    assert "Genstart mislykkedes: afvist" in body
    assert "Genstart mislykkedes: intet svar" in body
    assert "Genstart mislykkedes: kom ikke tilbage" in body
    assert "Genstartes når opladningen slutter" in body
    assert "every 10s" in body  # only a long wait: poll slowly


def test_pages_of_fifty(client, fleet):
    group = make_group(parent=fleet.site, name="Stor")
    Charger.objects.bulk_create(
        Charger(charge_point_id=f"BULK-{i:04d}", name=f"Bulk {i:04d}", group=group)
        for i in range(120)
    )
    client.force_login(fleet.admin)
    page3 = client.get("/chargers/", {"group": group.pk, "page": 3})
    assert len(names(page3)) == 20
    assert "Side 3 af 3 (120 opladere)" in page3.content.decode()


def test_the_first_page_costs_the_same_queries_with_5000_chargers(client, fleet):
    client.force_login(fleet.super_admin)

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/chargers/").status_code == 200
        return len(ctx)

    small = count_queries()
    group = make_group(parent=fleet.site, name="Stor")
    Charger.objects.bulk_create(
        Charger(charge_point_id=f"BULK-{i:05d}", name=f"Bulk {i:05d}", group=group)
        for i in range(5000)
    )
    jobs_for = Charger.objects.filter(group=group).order_by("name")[:30]
    for charger in jobs_for:
        restart(fleet, charger, "sent")
    assert count_queries() == small
    assert small <= 10


def test_a_charger_outside_your_groups_has_no_page(client, fleet):
    client.force_login(fleet.admin)
    assert client.get(f"/chargers/{fleet.ready[0].pk}/").status_code == 200
    assert client.get(f"/chargers/{fleet.foreign.pk}/").status_code == 404
    assert client.get(f"/chargers/{fleet.elsewhere.pk}/").status_code == 404


def test_the_detail_page_offers_restart_to_admins_only(client, fleet):
    client.force_login(fleet.admin)
    body = client.get(f"/chargers/{fleet.ready[0].pk}/").content.decode()
    assert 'aria-label="Genstart"' in body and f"?charger={fleet.ready[0].pk}" in body
    client.force_login(fleet.plain)
    body = client.get(f"/chargers/{fleet.ready[0].pk}/").content.decode()
    assert 'aria-label="Genstart"' not in body


def test_the_without_password_filter_lists_only_chargers_without_one(client, fleet):
    protected = fleet.ready[0]
    protected.set_ocpp_password("Abcdefghij0123456789")
    protected.save(update_fields=["password_hash"])
    client.force_login(fleet.admin)
    page = client.get("/chargers/").content.decode()
    assert '<option value="no_password"' in page and "Uden OCPP-adgangskode" in page
    listed = names(client.get("/chargers/", {"status": "no_password"}))
    assert protected.name not in listed
    assert fleet.ready[1].name in listed and fleet.offline.name in listed
    assert fleet.foreign.name not in listed  # still only your own groups


def test_rows_and_charger_page_say_simulated(client, fleet):
    demo, real = fleet.ready[0], fleet.ready[1]
    Charger.objects.filter(pk=demo.pk).update(simulated=True)
    client.force_login(fleet.admin)
    body = client.get("/chargers/").content.decode()
    row_of = {
        int(pk): row for pk, row in re.findall(r'<tr data-charger-id="(\d+)"(.*?)</tr>', body, re.S)
    }
    assert "Simuleret" in row_of[demo.pk]
    assert "Simuleret" not in row_of[real.pk]

    page = client.get(f"/chargers/{demo.pk}/").content.decode()
    assert re.search(
        r"<h1>[^<]*<span class=\"badge sim\" data-simulated>Simuleret</span></h1>", page
    )
    assert "spillet af demo-simulatoren" in page
    real_page = client.get(f"/chargers/{real.pk}/").content.decode()
    assert "data-simulated" not in real_page and "en rigtig lader" in real_page
