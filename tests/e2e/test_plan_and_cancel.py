"""An admin plans a restart for tonight from the window, then cancels it from the
request's history page: Chromium against the live stack."""

import re

from playwright.sync_api import expect

from restarts.models import RestartJob
from tenancy.models import Membership
from tests.factories import make_charger, make_group, make_member, make_org


def test_admin_plans_a_restart_for_tonight_and_cancels_it(stack, browser_page, login):
    org = make_org("Nordlys Energi A/S", plan="business")
    site = make_group(org, name="P-hus Vest")
    admin = make_member(site, Membership.Role.ADMIN, username="e2e-planner")
    for i in (1, 2):
        make_charger(site, charge_point_id=f"E2E-P{i}", name=f"Vest {i:02d}")

    page = browser_page
    login(page, admin)
    page.goto(stack.url("/chargers/"))
    for i in (1, 2):
        page.get_by_role("checkbox", name=f"Vælg Vest {i:02d}").check()
    page.get_by_role("button", name="Genstart", exact=True).click()

    # Nu or Planlæg: the time is preset to the coming night at 03:00.
    dialog = page.get_by_role("dialog", name="Genstart oplader")
    when = dialog.get_by_role("group", name="Hvornår")
    expect(when.get_by_role("radio", name="Nu")).to_be_checked()
    when.get_by_role("radio", name="Planlæg").check()
    field = when.get_by_label("Dato og tid (Europe/Copenhagen)")
    expect(field).to_have_value(re.compile(r"T03:00$"))
    dialog.get_by_role("button", name="OKAY").click()
    expect(dialog).to_be_hidden()

    # The rows say when, and stay usable meanwhile.
    for i in (1, 2):
        expect(page.get_by_role("row").filter(has_text=f"Vest {i:02d}")).to_contain_text(
            "Planlagt 03:00"
        )
        expect(page.get_by_role("checkbox", name=f"Vælg Vest {i:02d}")).to_be_enabled()

    # Cancel from the request's page, through its confirmation dialog.
    page.goto(stack.url("/restarts/history/"))
    page.get_by_role("link", name=re.compile(r"\d")).first.click()
    expect(page.get_by_text(re.compile("Planlagt til"))).to_be_visible()
    page.get_by_role("button", name="Annullér genstarter").click()
    confirm = page.get_by_role("dialog", name="Annullér genstart")
    expect(confirm).to_contain_text("annulleres: 2.")
    confirm.get_by_role("button", name="Annullér genstarter").click()
    expect(page.get_by_role("status").filter(has_text="Annulleret")).to_contain_text(
        "Annulleret: 2. Allerede i gang: 0."
    )
    expect(page.get_by_role("button", name="Annullér genstarter")).to_have_count(0)
    assert set(RestartJob.objects.values_list("state", flat=True)) == {"cancelled"}
