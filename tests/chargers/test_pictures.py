"""The charger page's week as a strip, and the fleet at a glance on Opladere."""

import re
from datetime import UTC, datetime, timedelta

from chargers.models import Charger, ChargerEvent
from chargers.pictures import TimelineItem, connection_strip
from restarts.models import RestartJob, RestartRequest

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=7)


def at(hours: float) -> datetime:
    """`hours` after the window's start."""
    return START + timedelta(hours=hours)


def kinds(strip) -> list[str]:
    return [s.kind for s in strip.segments]


def covered(strip, kind) -> float:
    return sum(s.width for s in strip.segments if s.kind == kind)


def test_strip_segments_follow_connect_disconnect_and_faults():
    strip = connection_strip(
        events=[
            (at(24), "connected"),
            (at(48), "faulted"),
            (at(72), "recovered"),
            (at(96), "disconnected"),
            (at(120), "connected"),
        ],
        before=None,
        restarts=[],
        now=NOW,
    )
    assert kinds(strip) == [
        "unknown",
        "connected",
        "faulted",
        "connected",
        "disconnected",
        "connected",
    ]
    assert sum(s.width for s in strip.segments) == 700
    assert covered(strip, "faulted") == 100  # one day of seven
    assert strip.shares == {
        "unknown": 14,
        "connected": 57,
        "faulted": 14,
        "disconnected": 14,
    }


def test_strip_starts_from_the_last_event_before_the_window():
    connected = connection_strip(events=[], before="booted", restarts=[], now=NOW)
    assert kinds(connected) == ["connected"]
    gone = connection_strip(
        events=[(at(10), "connected")], before="disconnected", restarts=[], now=NOW
    )
    assert kinds(gone) == ["disconnected", "connected"]
    assert connection_strip(events=[], before=None, restarts=[], now=NOW).has_data is False


def test_restart_paints_restarting_and_marks_its_outcome():
    strip = connection_strip(
        events=[],
        before="connected",
        restarts=[
            TimelineItem(at(24), at(24.5), "success", "Done"),
            TimelineItem(at(100), at(101), "failure", "No answer"),
            TimelineItem(NOW - timedelta(minutes=5), NOW, None, "Sent"),
        ],
        now=NOW,
    )
    assert kinds(strip).count("restarting") == 3
    assert [m.outcome for m in strip.marks] == ["success", "failure", "pending"]
    assert strip.restarts == 3
    assert abs(strip.marks[0].x - 100) < 0.01  # a day in: one seventh of 700


def test_a_flapping_charger_draws_at_most_700_rects():
    events = []
    for n in range(4032):  # every 2.5 minutes, the whole week
        events.append(
            (START + timedelta(seconds=150 * n + 1), "connected" if n % 2 else "disconnected")
        )
    strip = connection_strip(events=events, before="connected", restarts=[], now=NOW)
    assert len(strip.segments) <= 700
    assert covered(strip, "disconnected") == 700  # each column holds a disconnect: it shows


def test_strip_has_an_accessible_name_and_summary(client, fleet):
    charger = fleet.ready[0]
    Charger.objects.filter(pk=charger.pk).update(created_at=NOW - timedelta(days=30))
    now = datetime.now(UTC)
    ChargerEvent.objects.create(charger=charger, at=now - timedelta(days=8), kind="connected")
    ChargerEvent.objects.create(charger=charger, at=now - timedelta(days=2), kind="disconnected")
    ChargerEvent.objects.create(charger=charger, at=now - timedelta(days=1), kind="connected")
    req = RestartRequest.objects.create(
        requested_by=fleet.admin, requested_by_name="a", source="web", mode="default"
    )
    RestartJob.objects.create(
        request=req,
        charger=charger,
        state="done",
        created_at=now - timedelta(hours=3),
        sent_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=2, minutes=58),
    )
    client.force_login(fleet.admin)
    page = client.get(f"/chargers/{charger.pk}/").content.decode()
    svg = re.search(r"<svg class=\"strip-svg\".*?</svg>", page, re.S).group(0)
    assert 'role="img" aria-labelledby="strip-title" aria-describedby="strip-desc"' in svg
    assert '<title id="strip-title">Forbindelse de sidste 7 dage</title>' in svg
    desc = re.search(r'<desc id="strip-desc">(.*?)</desc>', svg, re.S).group(1)
    assert re.fullmatch(
        r"Forbundet \d+ %, afbrudt 14 %, fejl 0 %, genstarter [01] %; 1 genstart", desc.strip()
    ), desc
    assert 'data-restart-mark="success"' in svg
    assert "style=" not in svg and "<script" not in svg
    # Localised day ticks and a legend beside it.
    assert len(re.findall(r'<text class="strip-day"', svg)) in (6, 7)
    assert "Ingen data" in page

    # A charger outside your groups has no page, and so no picture.
    assert client.get(f"/chargers/{fleet.foreign.pk}/").status_code == 404


def test_fleet_glance_counts_equal_what_each_filter_link_lists(client, fleet):
    Charger.objects.filter(pk=fleet.ready[0].pk).update(is_connected=False)
    Charger.objects.filter(pk=fleet.ready[1].pk).update(last_status="Faulted")
    req = RestartRequest.objects.create(
        requested_by=fleet.admin, requested_by_name="a", source="web", mode="default"
    )
    RestartJob.objects.create(request=req, charger=fleet.ready[2], state="sent")
    client.force_login(fleet.admin)
    page = client.get("/chargers/").content.decode()
    nav = re.search(r'<nav id="fleet-glance".*?</nav>', page, re.S).group(0)
    assert 'aria-label="Flåden lige nu"' in nav
    links = re.findall(
        r'<a href="\?([^"]+)" class="glance-(\w+)" data-glance="\w+"[^>]*>'
        r"<strong>(\d+)</strong> ([^<]+)</a>",
        nav,
    )
    assert [key for _q, key, _n, _label in links] == [
        "connected",
        "disconnected",
        "faulted",
        "restarting",
    ]
    assert {key: label for _q, key, _n, label in links}["disconnected"] == "Afbrudt"
    for query, key, count, _label in links:
        listed = client.get(f"/chargers/?{query.replace('&amp;', '&')}")
        total = re.search(r'data-total="(\d+)"', listed.content.decode()).group(1)
        assert int(total) == int(count), key
        assert int(count) >= 1, key

    # The rows' own poll carries the glance out of band.
    rows = client.get("/chargers/", HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-label="Flåden lige nu" hx-swap-oob="true">' in rows
