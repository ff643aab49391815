"""Servicevindue: a group's maintenance window, set on the group's page or through the
API by whoever may edit the group, inherited by sub-groups, and the one rule
`in_maintenance_window(group, at)` (across midnight, in the organisation's time zone)."""

import zoneinfo
from datetime import datetime, time

import pytest
from django.db import IntegrityError, transaction

from api import tokens
from tenancy.maintenance import (
    in_maintenance_window,
    maintenance_window,
    outside_maintenance_window,
)
from tenancy.models import AuditEvent, Group, Membership
from tests.factories import make_member

Role = Membership.Role
CPH = zoneinfo.ZoneInfo("Europe/Copenhagen")


@pytest.fixture
def boss(tree):
    return make_member(tree["root"], Role.SUPER_ADMIN, username="boss")


def member(group, role, name):
    return make_member(group, role, username=name)


def set_window(group, start, end):
    Group.objects.filter(pk=group.pk).update(maintenance_start=start, maintenance_end=end)
    return Group.objects.get(pk=group.pk)


def at(hour, minute=0, day=3):
    return datetime(2026, 12, day, hour, minute, tzinfo=CPH)


def test_a_window_across_midnight_holds_late_evening_and_early_morning(tree):
    root = set_window(tree["root"], time(22, 0), time(4, 0))
    assert in_maintenance_window(root, at(22, 0))
    assert in_maintenance_window(root, at(23, 30))
    assert in_maintenance_window(root, at(3, 59))
    assert not in_maintenance_window(root, at(4, 0))
    assert not in_maintenance_window(root, at(12, 0))
    assert not in_maintenance_window(root, at(21, 59))


def test_sub_groups_follow_the_nearest_window_above_unless_they_set_their_own(tree):
    set_window(tree["root"], time(22, 0), time(4, 0))
    a = set_window(tree["a"], time(1, 0), time(5, 0))
    assert in_maintenance_window(tree["a1"], at(4, 30))  # A's, not Root's
    assert not in_maintenance_window(tree["a1"], at(23, 0))
    assert in_maintenance_window(tree["b"], at(23, 0))  # Root's
    window = maintenance_window(tree["a1"])
    assert window.owner == a and window.inherited_by(tree["a1"])
    assert str(window) == "01:00–05:00"
    assert not in_maintenance_window(tree["other_root"], at(2, 0))  # none anywhere above


def test_the_window_is_read_in_the_organisations_time_zone(tree):
    tree["org"].time_zone = "America/New_York"
    tree["org"].save(update_fields=["time_zone"])
    root = set_window(tree["root"], time(1, 0), time(5, 0))
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert in_maintenance_window(root, datetime(2026, 12, 3, 2, 0, tzinfo=new_york))
    assert not in_maintenance_window(root, at(2, 0))  # 20:00 the evening before in New York
    assert maintenance_window(root).next_start(at(2, 0)) == datetime(
        2026, 12, 3, 1, 0, tzinfo=new_york
    )


def test_the_database_refuses_half_a_window(tree):
    with pytest.raises(IntegrityError), transaction.atomic():
        set_window(tree["a"], time(1, 0), None)
    with pytest.raises(IntegrityError), transaction.atomic():
        set_window(tree["a"], time(1, 0), time(1, 0))


def test_a_super_admin_sets_the_window_on_the_group_page_and_everyone_sees_it(client, tree, boss):
    client.force_login(boss)
    page = client.get(f"/groups/{tree['a'].pk}/").content.decode()
    assert "Servicevindue" in page and "Intet servicevindue." in page
    assert f'href="/groups/{tree["a"].pk}/maintenance-window/">Angiv servicevindue' in page
    form = client.get(f"/groups/{tree['a'].pk}/maintenance-window/").content.decode()
    assert 'type="time" name="start"' in form and "Europe/Copenhagen" in form
    response = client.post(
        f"/groups/{tree['a'].pk}/maintenance-window/", {"start": "22:00", "end": "04:00"}
    )
    assert response.status_code == 302
    a = Group.objects.get(pk=tree["a"].pk)
    assert (a.maintenance_start, a.maintenance_end) == (time(22, 0), time(4, 0))
    event = AuditEvent.objects.get(action="group.maintenance_window")
    assert event.before == {"maintenance_window": None}
    assert event.after == {"maintenance_window": "22:00–04:00"}
    trail = client.get("/audit/").content.decode()
    assert "Servicevindue ændret" in trail and "22:00–04:00" in trail

    viewer = member(tree["a1"], Role.USER, "viewer")
    client.force_login(viewer)
    sub = client.get(f"/groups/{tree['a1'].pk}/").content.decode()
    assert "22:00–04:00 (Europe/Copenhagen) · følger A" in sub
    assert "maintenance-window/" not in sub  # a plain user cannot change it


@pytest.mark.parametrize(
    ("posted", "error"),
    [
        ({"start": "01:00", "end": ""}, "Angiv hvornår vinduet slutter, eller ryd begge felter."),
        ({"start": "", "end": "05:00"}, "Angiv hvornår vinduet starter, eller ryd begge felter."),
        ({"start": "25:61", "end": "05:00"}, "Angiv et klokkeslæt som TT:MM, fx 01:00."),
        (
            {"start": "03:00", "end": "03:00"},
            "Vinduet skal slutte på et andet tidspunkt, end det starter.",
        ),
    ],
)
def test_bad_times_get_a_form_error_and_change_nothing(client, tree, boss, posted, error):
    set_window(tree["a"], time(1, 0), time(5, 0))
    client.force_login(boss)
    response = client.post(f"/groups/{tree['a'].pk}/maintenance-window/", posted)
    assert response.status_code == 200
    assert error in response.content.decode()
    a = Group.objects.get(pk=tree["a"].pk)
    assert (a.maintenance_start, a.maintenance_end) == (time(1, 0), time(5, 0))
    assert not AuditEvent.objects.filter(action="group.maintenance_window").exists()


def test_clearing_both_times_follows_the_group_above_again(client, tree, boss):
    set_window(tree["root"], time(2, 0), time(4, 0))
    set_window(tree["a"], time(1, 0), time(5, 0))
    client.force_login(boss)
    client.post(f"/groups/{tree['a'].pk}/maintenance-window/", {"start": "", "end": ""})
    assert maintenance_window(tree["a"]).owner == tree["root"]


def test_only_whoever_may_edit_the_group_sets_it_and_others_learn_nothing(client, tree):
    url = f"/groups/{tree['a'].pk}/maintenance-window/"
    client.force_login(member(tree["a"], Role.ADMIN, "site-admin"))
    assert client.get(url).status_code == 403
    assert client.post(url, {"start": "01:00", "end": "05:00"}).status_code == 403
    client.force_login(member(tree["other_root"], Role.SUPER_ADMIN, "stranger"))
    assert client.post(url, {"start": "01:00", "end": "05:00"}).status_code == 404
    assert Group.objects.get(pk=tree["a"].pk).maintenance_start is None


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue_pair(user).token}"}


def test_the_api_reads_and_sets_the_window_on_the_same_rules(client, tree, boss):
    url = f"/api/v1/groups/{tree['a1'].pk}/maintenance-window"
    viewer = member(tree["a1"], Role.USER, "viewer")
    assert client.get(url, **bearer(viewer)).json() == {
        "group": tree["a1"].pk,
        "window_group": None,
        "inherited": False,
        "start": None,
        "end": None,
        "time_zone": "Europe/Copenhagen",
    }
    put = {"content_type": "application/json", **bearer(boss)}
    own = f"/api/v1/groups/{tree['a'].pk}/maintenance-window"
    response = client.put(own, {"start": "23:00", "end": "03:30"}, **put)
    assert response.status_code == 200 and response.json()["start"] == "23:00"
    read = client.get(url, **bearer(viewer)).json()
    assert (read["window_group"], read["inherited"], read["end"]) == (tree["a"].pk, True, "03:30")

    bad = client.put(url, {"start": "02:00", "end": None}, **put)
    assert bad.status_code == 422 and bad.json()["code"] == "bad_window"
    assert "slutter" in bad.json()["detail"]
    admin = member(tree["a"], Role.ADMIN, "site-admin")
    denied = client.put(
        url,
        {"start": "01:00", "end": "02:00"},
        content_type="application/json",
        **bearer(admin),
    )
    assert denied.status_code == 403 and denied.json()["code"] == "not_allowed"
    stranger = member(tree["other_root"], Role.SUPER_ADMIN, "stranger")
    assert client.get(url, **bearer(stranger)).status_code == 404
    cleared = client.put(own, {"start": None, "end": None}, **put)
    assert cleared.json()["window_group"] is None


def test_outside_means_a_window_exists_and_the_moment_is_not_in_it(tree):
    assert not outside_maintenance_window(tree["a"], at(12, 0))  # no window: never outside
    set_window(tree["root"], time(1, 0), time(5, 0))
    assert outside_maintenance_window(tree["a"], at(12, 0))
    assert not outside_maintenance_window(tree["a"], at(2, 0))
