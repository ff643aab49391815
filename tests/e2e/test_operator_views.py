"""What an operator looks at: the fleet at a glance and a charger's week, in Chromium."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from chargers.models import ChargerEvent
from tenancy.models import Membership
from tests.e2e.conftest import screenshot
from tests.factories import make_charger, make_group, make_member, make_org
from tests.helpers import wait_for

SLOW = 60_000  # ms


def test_fleet_glance_links_filter_the_list(stack, make_fleet_online, browser_page, login):
    org = make_org("Nordlys Energi A/S", plan="business")
    site = make_group(org, name="P-hus Syd")
    admin = make_member(site, Membership.Role.ADMIN, username="e2e-glance")
    for cp, name in (("GL-01", "Syd 01"), ("GL-02", "Syd 02"), ("GL-OFF", "Syd offline")):
        make_charger(site, charge_point_id=cp, name=name, is_connected=False)
    make_fleet_online(exclude=["GL-OFF"])

    page = browser_page
    login(page, admin)
    page.goto(stack.url("/chargers/"))
    glance = page.get_by_role("navigation", name="Flåden lige nu")
    expect(glance.get_by_role("link", name=re.compile("Forbundet"))).to_have_text("2 Forbundet")
    disconnected = glance.get_by_role("link", name=re.compile("Afbrudt"))
    expect(disconnected).to_have_text("1 Afbrudt")
    screenshot(glance, "flaaden-lige-nu.png")

    disconnected.click()
    expect(page.get_by_role("link", name="Syd offline")).to_be_visible()
    expect(page.get_by_role("link", name="Syd 01")).to_have_count(0)
    expect(page.get_by_role("link", name="Syd 02")).to_have_count(0)


def test_charger_page_draws_its_week_and_its_restarts(
    stack, make_fleet_online, browser_page, login
):
    org = make_org("Nordlys Energi A/S", plan="business")
    site = make_group(org, name="P-hus Syd")
    admin = make_member(site, Membership.Role.ADMIN, username="e2e-week")
    charger = make_charger(site, charge_point_id="WK-01", name="Syd uge", is_connected=False)
    make_fleet_online(reboot_seconds=3)
    # The gateway recorded the connect and the boot as history (written after the row).
    wait_for(
        lambda: (
            set(ChargerEvent.objects.filter(charger=charger).values_list("kind", flat=True))
            >= {"connected", "booted"}
        ),
        message="history recorded",
    )

    # Its earlier days, as the gateway would have recorded them.
    now = timezone.now()
    for days_ago, hours, kind in [
        (6, 0, "connected"),
        (4, 8, "disconnected"),
        (4, 3, "connected"),
        (2, 6, "faulted"),
        (2, 2, "recovered"),
    ]:
        ChargerEvent.objects.create(
            charger=charger, at=now - timedelta(days=days_ago, hours=hours), kind=kind
        )

    page = browser_page
    login(page, admin)
    page.goto(stack.url(f"/chargers/{charger.pk}/"))
    strip = page.get_by_role("img", name="Forbindelse de sidste 7 dage")
    expect(strip).to_be_visible()
    for kind in ("connected", "disconnected", "faulted"):
        expect(strip.locator(f'[data-kind="{kind}"]').first).to_be_attached()
    expect(strip.locator("[data-restart-mark]")).to_have_count(0)

    # Restart it from its own page; once it is back, the strip shows the restart.
    page.get_by_role("button", name="Genstart", exact=True).click()
    dialog = page.get_by_role("dialog", name="Genstart oplader")
    dialog.get_by_role("button", name="OKAY").click()
    expect(dialog).to_be_hidden()
    state = page.locator("#charger-state")
    expect(state).to_contain_text("Genstarter")
    expect(state).not_to_contain_text("Genstarter", timeout=SLOW)
    expect(state).to_contain_text("Seneste genstarter")

    page.reload()
    strip = page.get_by_role("img", name="Forbindelse de sidste 7 dage")
    expect(strip.locator('[data-restart-mark="success"]')).to_have_count(1)
    expect(strip.locator('[data-kind="restarting"]')).to_have_count(1)
    expect(page.locator("#strip-desc")).to_contain_text("1 genstart")
    screenshot(page.locator("section.strip"), "oplader-uge.png")
