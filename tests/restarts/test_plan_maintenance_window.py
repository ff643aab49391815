"""Planlæg meets the maintenance window: the window's default is the next start of the
chargers' shared window (through the real view), else the coming 03:00 and it says so;
the history shows a plan in the chargers' organisation's time zone."""

import re
import zoneinfo
from datetime import time, timedelta

from django.utils import timezone

from restarts import plans
from restarts.services import restart_request_create
from tenancy.maintenance import maintenance_window
from tenancy.models import Group

HTMX = {"HX-Request": "true"}
CPH = zoneinfo.ZoneInfo("Europe/Copenhagen")


def set_window(group, start, end):
    Group.objects.filter(pk=group.pk).update(maintenance_start=start, maintenance_end=end)


def window_for(client, chargers) -> str:
    response = client.get("/restarts/window/", {"charger": [c.pk for c in chargers]}, headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def preset(window: str) -> str:
    return re.search(r'name="not_before" value="([^"]+)"', window).group(1)


def test_planlaeg_defaults_to_the_next_start_of_the_chargers_window(client, fleet):
    set_window(fleet.site, time(1, 15), time(5, 0))
    client.force_login(fleet.admin)
    window = window_for(client, fleet.ready[:2])
    start = maintenance_window(fleet.site).next_start()
    assert preset(window) == f"{timezone.localtime(start, CPH):%Y-%m-%dT%H:%M}"
    assert preset(window).endswith("T01:15")
    assert "Forudfyldt med næste start af opladernes servicevindue (01:15–05:00)." in window
    assert 'aria-describedby="restart-plan-note"' in window


def test_an_inherited_window_shared_by_two_groups_is_still_one_window(client, fleet):
    set_window(fleet.root, time(23, 30), time(2, 0))
    client.force_login(fleet.super_admin)
    window = window_for(client, [fleet.ready[0], fleet.elsewhere])
    assert preset(window).endswith("T23:30")
    assert "(23:30–02:00)" in window


def test_different_windows_fall_back_to_three_and_say_so(client, fleet):
    set_window(fleet.site, time(1, 0), time(5, 0))
    set_window(fleet.other_site, time(2, 0), time(4, 0))
    client.force_login(fleet.super_admin)
    window = window_for(client, [fleet.ready[0], fleet.elsewhere])
    assert preset(window).endswith("T03:00")
    assert "Forudfyldt med kl. 03:00: opladerne har ikke ét fælles servicevindue." in window


def test_a_group_without_a_window_beside_one_with_falls_back_too(client, fleet):
    set_window(fleet.site, time(1, 0), time(5, 0))
    client.force_login(fleet.super_admin)
    window = window_for(client, [fleet.ready[0], fleet.elsewhere])
    assert preset(window).endswith("T03:00")
    assert "ikke ét fælles servicevindue" in window


def test_no_window_anywhere_presets_three_and_says_why(client, fleet):
    client.force_login(fleet.admin)
    window = window_for(client, fleet.ready[:1])
    assert preset(window).endswith("T03:00")
    assert "Forudfyldt med kl. 03:00: opladernes grupper har intet servicevindue." in window


def test_all_matching_the_filter_presets_the_shared_window_too(client, fleet):
    set_window(fleet.site, time(0, 45), time(3, 0))
    client.force_login(fleet.admin)
    response = client.get("/restarts/window/", {"scope": "filter", "q": "Syd"}, headers=HTMX)
    assert preset(response.content.decode()).endswith("T00:45")


def test_the_history_shows_a_plan_in_the_chargers_organisations_time_zone(client, fleet):
    fleet.org.time_zone = "Europe/London"
    fleet.org.save(update_fields=["time_zone"])
    london = zoneinfo.ZoneInfo("Europe/London")
    plan = plans.default_plan(london) + timedelta(days=2)  # shown with its date
    made = restart_request_create(
        user=fleet.admin, charger_ids=[fleet.ready[0].pk], not_before=plan
    )
    shown = f"Planlagt til {plan:%d.%m.%Y} 03:00"  # 04:00 in the portal's Copenhagen
    client.force_login(fleet.admin)
    assert shown in client.get("/restarts/history/").content.decode()
    assert shown in client.get(f"/restarts/history/{made.request.pk}/").content.decode()
