"""A bulk restart's progress: the bar over Opladere (the rows' one poll) and its history page."""

import re
from datetime import timedelta

from django.utils import timezone

from restarts.models import RestartJob, RestartRequest
from tests.restarts.test_exports import make_request

State = RestartJob.State
HTMX = {"HX-Request": "true"}


def bulk(fleet, who=None, chargers=None) -> RestartRequest:
    """A running request: one restarted, one failed, one under way."""
    restart = make_request(who or fleet.admin, chargers or fleet.ready, State.SENT)
    restart.requested_at = timezone.now()
    restart.save(update_fields=["requested_at"])
    a, b, *_ = restart.jobs.order_by("charger__name")
    RestartJob.objects.filter(pk=a.pk).update(state=State.DONE, finished_at=timezone.now())
    RestartJob.objects.filter(pk=b.pk).update(state=State.NO_ANSWER, finished_at=timezone.now())
    return restart


def bar(body: str) -> str:
    match = re.search(
        r'<div id="page-banners"[^>]*>(.*?)</div>\s*(?:<div id="charger-results"|$)', body, re.S
    )
    return match.group(1) if match else ""


def test_the_bar_counts_the_whole_request_not_just_this_pages_rows(client, fleet):
    restart = bulk(fleet)
    client.force_login(fleet.admin)
    # Filtered to one charger that is not in the request: its rows do not restart.
    body = client.get("/chargers/", {"q": "Syd lader"}).content.decode()
    assert 'role="progressbar"' in body
    assert re.search(r'aria-label="Genstart [^"]+ af site-admin"', body)
    assert 'aria-valuemax="3" aria-valuenow="2"' in body
    assert "1 af 3 genstartet · 1 mislykkedes · 1 i gang" in body
    assert f'href="/restarts/history/{restart.pk}/">Vis genstarten</a>' in body
    assert 'id="page-banners" class="page-banners" aria-live="polite"' in body
    # The rows' one poll runs on for the bar, though no row on this page restarts.
    assert 'hx-trigger="restartStarted from:body, every 2s"' in body


def test_the_rows_poll_brings_the_bar_out_of_band_with_fresh_counts(client, fleet):
    restart = bulk(fleet)
    client.force_login(fleet.admin)
    restart.jobs.filter(state=State.SENT).update(state=State.DONE, finished_at=timezone.now())
    body = client.get("/chargers/", headers=HTMX).content.decode()
    assert '<div id="page-banners" hx-swap-oob="innerHTML">' in body
    assert "Afsluttet:</strong> 2 af 3 genstartet · 1 mislykkedes" in body
    assert "i gang" not in body
    assert "every 2s" not in body  # ended: the poll stops, the last answer shows the end


def test_a_plan_asked_for_days_ago_shows_its_end_like_any_other(client, fleet):
    restart = bulk(fleet)
    # Planned three days ago for tonight; it ran at its time and has just ended.
    RestartRequest.objects.filter(pk=restart.pk).update(
        requested_at=timezone.now() - timedelta(days=3),
        not_before=timezone.now() - timedelta(minutes=20),
    )
    restart.jobs.filter(state=State.SENT).update(state=State.DONE, finished_at=timezone.now())
    client.force_login(fleet.admin)
    body = client.get("/chargers/", headers=HTMX).content.decode()
    assert "Afsluttet:</strong> 2 af 3 genstartet · 1 mislykkedes" in body


def test_an_ended_request_leaves_the_page_after_a_while(client, fleet):
    restart = bulk(fleet)
    long_ago = timezone.now() - timedelta(minutes=10)
    restart.jobs.update(state=State.DONE, finished_at=long_ago)
    client.force_login(fleet.admin)
    assert 'role="progressbar"' not in client.get("/chargers/").content.decode()


def test_nobody_learns_about_chargers_outside_their_groups(client, fleet):
    bulk(fleet, fleet.super_admin, [*fleet.ready, fleet.elsewhere])
    bulk(fleet, fleet.super_admin, [fleet.foreign, *fleet.basic])
    client.force_login(fleet.admin)
    body = client.get("/chargers/").content.decode()
    assert body.count('role="progressbar"') == 1
    assert 'aria-valuemax="3"' in body  # the admin's three, not Havnen's fourth
    client.force_login(fleet.plain)
    assert 'role="progressbar"' not in client.get("/chargers/").content.decode()


def test_a_single_charger_restart_has_no_bar(client, fleet):
    make_request(fleet.admin, fleet.ready[:1], State.SENT)
    client.force_login(fleet.admin)
    assert 'role="progressbar"' not in client.get("/chargers/").content.decode()


def test_the_requests_history_page_updates_itself_until_the_end(client, fleet):
    restart = bulk(fleet)
    client.force_login(fleet.admin)
    url = f"/restarts/history/{restart.pk}/"
    page = client.get(url).content.decode()
    polling = f'id="request-state" hx-get="{url}" hx-swap="outerHTML" hx-trigger="every 2s"'
    assert polling in page
    assert "1 af 3 genstartet · 1 mislykkedes · 1 i gang" in page

    restart.jobs.filter(state=State.SENT).update(state=State.DONE, finished_at=timezone.now())
    part = client.get(url, headers=HTMX).content.decode()
    assert part.lstrip().startswith('<div id="request-state"')
    assert "every 2s" not in part
    assert "2 af 3 genstartet · 1 mislykkedes" in part
    assert "<h1>" not in part  # only the part that changes


def test_a_request_summed_up_long_ago_is_not_read_again(client, fleet):
    restart = bulk(fleet)
    restart.jobs.update(state=State.DONE, finished_at=timezone.now())
    client.force_login(fleet.admin)
    assert 'role="progressbar"' in client.get("/chargers/").content.decode()
    RestartRequest.objects.filter(pk=restart.pk).update(
        summarised_at=timezone.now() - timedelta(minutes=5)
    )
    assert 'role="progressbar"' not in client.get("/chargers/").content.decode()
