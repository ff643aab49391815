"""The admin's bulk restart, end to end: Chromium, web, worker, gateway and simulated chargers."""

import re

from playwright.sync_api import expect

from restarts.models import RestartJob
from tenancy.models import Membership
from tests.e2e.conftest import screenshot
from tests.factories import make_charger, make_group, make_member, make_org

SLOW = 60_000  # ms: a simulated charger reboots in a few seconds, a real one in minutes


def test_admin_restarts_chargers_and_sees_them_come_back(
    stack, make_fleet_online, browser_page, login
):
    org = make_org("Nordlys Energi A/S", plan="business")
    site = make_group(org, name="P-hus Syd")
    admin = make_member(site, Membership.Role.ADMIN, username="e2e-admin")
    spec = [
        ("E2E-01", "Syd 01", {"ocpp_version": "1.6"}),
        ("E2E-02", "Syd 02", {"ocpp_version": "2.0.1"}),
        ("E2E-03", "Syd 03", {"ocpp_version": "1.6"}),
        ("E2E-REJ", "Syd afviser", {"ocpp_version": "1.6"}),
        ("E2E-OFF", "Syd offline", {"ocpp_version": "1.6"}),
        ("E2E-OLD", "Syd gammel", {"ocpp_version": "1.6", "supports_remote_restart": False}),
    ]
    chargers = {
        name: make_charger(site, charge_point_id=cp, name=name, is_connected=False, **extra)
        for cp, name, extra in spec
    }
    make_fleet_online(exclude=["E2E-OFF"], behaviours={"E2E-REJ": "reject"}, reboot_seconds=5)

    page = browser_page
    login(page, admin)
    page.goto(stack.url("/chargers/"))
    expect(page.get_by_role("heading", name="Opladere")).to_be_visible()
    restart = page.get_by_role("button", name="Genstart", exact=True)

    # 1-2. Only checkboxes until one is ticked; then the actions and the count.
    expect(page.get_by_role("checkbox", name="Vælg Syd 01")).to_be_visible()
    expect(restart).to_be_hidden()
    for name in chargers:
        page.get_by_role("checkbox", name=f"Vælg {name}").check()
    expect(restart).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="valgt")).to_contain_text("6 valgt")
    screenshot(page, "opladere.png")

    # 3. The window lists exactly the eligible chargers and says why the others are not.
    restart.click()
    dialog = page.get_by_role("dialog", name="Genstart oplader")
    expect(dialog).to_be_visible()
    items = dialog.get_by_role("listitem")
    expect(items).to_have_count(4)
    for name in ("Syd 01", "Syd 02", "Syd 03", "Syd afviser"):
        expect(items.filter(has_text=name)).to_have_count(1)
    expect(dialog).to_contain_text("Udeladt: 2 (1 ikke forbundet, 1 kan ikke fjerngenstartes).")
    expect(dialog).not_to_contain_text("Syd offline")
    screenshot(dialog, "genstart-oplader.png")

    # 4. Remove one; the count follows.
    dialog.get_by_role("button", name="Fjern Syd 03").click()
    expect(items).to_have_count(3)
    expect(dialog.locator("[data-restart-count]")).to_have_text("3")

    # 5. OKAY: the window closes, the rows show disabled with "Genstarter".
    dialog.get_by_role("button", name="OKAY").click()
    expect(dialog).to_be_hidden()
    for name in ("Syd 01", "Syd 02"):
        row = page.get_by_role("row").filter(has_text=name)
        expect(row).to_contain_text("Genstarter")
        expect(page.get_by_role("checkbox", name=f"Vælg {name}")).to_be_disabled()
    # A bar over the table follows the whole request, named after it.
    bar = page.get_by_role("progressbar", name=re.compile(r"^Genstart .+ af e2e-admin$"))
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("aria-valuemax", "3")
    banners = page.locator("#page-banners")
    expect(banners).to_contain_text(re.compile(r"af 3 genstartet · \d+ mislykkedes"))
    screenshot(page, "opladere-genstarter.png")

    # 6. They come back by themselves when the chargers boot again, no reload.
    for name in ("Syd 01", "Syd 02"):
        expect(page.get_by_role("checkbox", name=f"Vælg {name}")).to_be_enabled(timeout=SLOW)
        expect(page.get_by_role("row").filter(has_text=name)).not_to_contain_text("Genstarter")
    # The one that rejected is marked failed, with its reason; the removed one was untouched.
    expect(page.get_by_role("row").filter(has_text="Syd afviser")).to_contain_text(
        "Genstart mislykkedes: afvist"
    )
    expect(page.get_by_role("row").filter(has_text="Syd 03")).not_to_contain_text("Genstart")

    # The bar ends with the request, on the same poll, and says how it ended.
    expect(banners).to_contain_text("Afsluttet: 2 af 3 genstartet · 1 mislykkedes", timeout=SLOW)
    expect(bar).to_have_attribute("aria-valuenow", "3")
    screenshot(page.locator(".restart-progress"), "genstart-fremskridt.png")

    # Polling stopped: the rows no longer ask to be refreshed.
    expect(page.locator("#charger-results")).not_to_have_attribute("data-polling", re.compile("."))

    # The bar's link: the request's own page, with the same counts and its CSV.
    page.get_by_role("link", name="Vis genstarten").click()
    heading = page.get_by_role("heading", name=re.compile("^Genstart .+ af e2e-admin$"))
    expect(heading).to_be_visible()
    expect(page.get_by_role("progressbar")).to_have_attribute(
        "aria-valuetext", re.compile("^2 af 3 genstartet · 1 mislykkedes$")
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Eksportér CSV").click()
    assert re.fullmatch(r"genstart-\d+\.csv", download.value.suggested_filename)
    text = download.value.path().read_text(encoding="utf-8")
    assert text.startswith("\ufeffAnmodning;")
    assert "Syd afviser" in text and "Afvist" in text
    # And the whole history's.
    page.get_by_role("link", name="Genstartshistorik").first.click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Eksportér CSV").click()
    assert download.value.suggested_filename == "genstarter.csv"

    jobs = {j.charger.name: j for j in RestartJob.objects.select_related("charger")}
    assert set(jobs) == {"Syd 01", "Syd 02", "Syd afviser"}
    assert (jobs["Syd 01"].state, jobs["Syd 01"].reset_type, jobs["Syd 01"].confirmed_by) == (
        "done",
        "Soft",
        "boot",
    )
    assert (jobs["Syd 02"].state, jobs["Syd 02"].reset_type) == ("done", "Immediate")
    assert jobs["Syd afviser"].state == "rejected"


def test_all_matching_the_filter_is_confirmed_from_a_summary_with_a_paged_list(
    stack, browser_page, login
):
    """Thousands at once: the window summarises per group, pages and searches the list,
    and OKAY carries the filter plus the removed chargers."""
    org = make_org("Nordlys Energi A/S", plan="business")
    site = make_group(org, name="P-hus Nord")
    admin = make_member(site, Membership.Role.ADMIN, username="e2e-many")
    for i in range(1, 121):
        make_charger(site, charge_point_id=f"E2E-M{i:03d}", name=f"Nord {i:03d}")
    make_charger(site, charge_point_id="E2E-MOFF", name="Nord slukket", is_connected=False)

    page = browser_page
    login(page, admin)
    page.goto(stack.url("/chargers/?q=Nord"))
    page.get_by_role("checkbox", name="Vælg alle på denne side").check()
    page.get_by_role("button", name=re.compile("Vælg alle der matcher filteret")).click()
    page.get_by_role("button", name="Genstart", exact=True).click()

    dialog = page.get_by_role("dialog", name="Genstart oplader")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-restart-count]")).to_have_text("120")
    groups = dialog.get_by_role("table", name="Pr. gruppe")
    expect(groups.get_by_role("row", name=re.compile("P-hus Nord"))).to_contain_text(
        "1: 1 ikke forbundet"
    )
    items = dialog.get_by_role("list", name="Opladere der genstartes").get_by_role("listitem")
    expect(items).to_have_count(50)

    # Remove one on the first page, find another by search and remove it too.
    dialog.get_by_role("button", name="Fjern Nord 001").click()
    expect(dialog.get_by_role("button", name="Sæt Nord 001 tilbage")).to_be_visible()
    dialog.get_by_role("searchbox", name="Find en oplader i listen").fill("Nord 117")
    expect(items).to_have_count(1)
    dialog.get_by_role("button", name="Fjern Nord 117").click()
    expect(dialog.locator("[data-restart-count]")).to_have_text("118")
    # Paging back keeps what was removed.
    dialog.get_by_role("searchbox", name="Find en oplader i listen").fill("")
    expect(items).to_have_count(50)
    expect(dialog.get_by_role("button", name="Sæt Nord 001 tilbage")).to_be_visible()
    dialog.get_by_role("button", name="Næste").click()
    expect(items.first).to_contain_text("Nord 051")

    dialog.get_by_role("button", name="OKAY").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-restart-announce]")).to_have_text("Opladere der genstartes: 118.")
    restarted = set(RestartJob.objects.values_list("charger__name", flat=True))
    assert len(restarted) == 118 and not restarted & {"Nord 001", "Nord 117", "Nord slukket"}
