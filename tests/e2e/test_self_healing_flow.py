"""Selvhelbredelse end to end: a super-admin turns it on in Chromium, two simulated
chargers go Faulted, and the real worker's beat heals one and gives up on the other,
whose admins get one e-mail (the development console backend writes it to the worker's
log) and whose charger page says what was tried."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F
from playwright.sync_api import expect

from chargers.models import ChargerEvent
from restarts.healing.models import HealingCase
from restarts.models import RestartJob
from tenancy.models import Membership
from tests.factories import make_charger, make_group, make_member, make_org
from tests.helpers import wait_for


def test_the_beat_heals_one_faulted_charger_and_gives_up_on_the_other(
    stack, make_fleet_online, browser_page, login
):
    org = make_org("Nordlys Energi A/S", plan="business")
    root = make_group(org, name="Nordlys")
    site = make_group(parent=root, name="P-hus Nord")
    boss = make_member(root, Membership.Role.SUPER_ADMIN, username="e2e-boss")
    boss.email = "boss@example.com"
    boss.save()
    healthy = make_charger(site, charge_point_id="E2E-HEAL", name="Nord Heal", is_connected=False)
    stuck = make_charger(site, charge_point_id="E2E-STUCK", name="Nord Stuck", is_connected=False)

    page = browser_page
    login(page, boss)
    page.goto(stack.url(f"/groups/{root.pk}/"))
    page.get_by_role("link", name="Selvhelbredelse").click()
    page.get_by_label("Selvhelbredelse slået til").check()
    page.get_by_label("Fejl i (minutter)").fill("10")
    page.get_by_role("button", name="Gem").click()
    expect(page.get_by_text("Selvhelbredelse gemt.")).to_be_visible()

    make_fleet_online(
        behaviours={"E2E-HEAL": "faulted_after=1", "E2E-STUCK": "reject+faulted_after=1"}
    )
    for charger in (healthy, stuck):  # both report Faulted; ten minutes pass
        faults = ChargerEvent.objects.filter(charger=charger, kind=ChargerEvent.Kind.FAULTED)
        wait_for(faults.exists, timeout=30, message=f"{charger.name} faulted")
        ChargerEvent.objects.filter(charger=charger).update(at=F("at") - timedelta(minutes=11))

    def ended(charger):
        return HealingCase.objects.filter(charger=charger).exclude(outcome="").first()

    wait_for(lambda: ended(healthy) and ended(stuck), timeout=120, message="both ladders end")
    assert ended(healthy).outcome == "healed"
    assert ended(stuck).outcome == "gave_up"
    jobs = RestartJob.objects.filter(charger=stuck, request__source="auto").order_by("pk")
    assert [(j.reset_type, j.state) for j in jobs] == [("Soft", "rejected"), ("Hard", "rejected")]
    wait_for(lambda: "Selvhelbredelse opgav: Nord Stuck" in stack.log("worker"), timeout=20)
    assert stack.log("worker").count("Selvhelbredelse opgav: Nord Stuck") == 1

    page.goto(stack.url(f"/groups/{site.pk}/self-healing/"))
    gave_up = page.get_by_role("table", name="Opladere, selvhelbredelse opgav de seneste 7 dage")
    expect(gave_up).to_contain_text("Nord Stuck")
    expect(gave_up).not_to_contain_text("Nord Heal")
    gave_up.get_by_role("link", name="Nord Stuck").click()
    notice = page.get_by_role("region", name="Selvhelbredelse")
    expect(notice).to_contain_text("Selvhelbredelse kunne ikke helbrede denne oplader")
    expect(notice.get_by_role("table", name="Hvad der blev prøvet")).to_contain_text("Hard")
