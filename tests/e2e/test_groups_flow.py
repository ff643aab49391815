"""Groups and people end to end, in Chromium against the live stack.

A super-admin builds a sub-group, puts a charger in it and invites its admin
(the link read from the console e-mail, as in development); the new admin sets a
password, logs in, sees only that sub-group and its charger, and restarts it.
"""

import email
import email.policy
import re

from playwright.sync_api import expect

from chargers.models import Charger
from restarts.models import RestartJob
from tenancy.models import Group, Membership
from tests.e2e.conftest import screenshot
from tests.factories import make_charger, make_group, make_member, make_org

SLOW = 60_000  # ms: a simulated charger reboots in seconds, a real one in minutes
CONSOLE_MAIL = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}


def mail_body(console: str) -> str:
    """The text of the one e-mail the console backend printed, decoded as a mail client
    would (Danish text makes it quoted-printable, which may wrap the link)."""
    raw = console.split("\n" + "-" * 79)[0].lstrip()
    message = email.message_from_string(raw, policy=email.policy.default)
    return message.get_content()


def test_super_admin_builds_a_sub_group_and_its_new_admin_restarts_its_charger(
    stack, make_fleet_online, browser, browser_page, login, capfd, settings
):
    # The live server runs in this process: give it development's console mail.
    settings.MAILERS = CONSOLE_MAIL
    org = make_org("Nordlys Energi A/S", plan="business")
    root = make_group(org, name="Nordlys Energi")
    kbh = make_group(parent=root, name="København")
    make_charger(kbh, charge_point_id="E2E-KBH-01", name="København 01", is_connected=False)
    boss = make_member(root, Membership.Role.SUPER_ADMIN, username="e2e-super")

    page = browser_page
    login(page, boss)
    page.goto(stack.url("/chargers/"))
    page.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Grupper").click()
    expect(page.get_by_role("heading", name="Grupper", exact=True)).to_be_visible()

    # 1. A sub-group under København.
    page.get_by_role("link", name="København", exact=True).click()
    page.get_by_role("link", name="Ny undergruppe").click()
    page.get_by_label("Navn").fill("P-hus Vest")
    page.get_by_role("button", name="Opret gruppe").click()
    expect(page.get_by_role("heading", name="P-hus Vest", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Gruppen “P-hus Vest” er oprettet.")

    # 2. A charger in it.
    page.get_by_role("link", name="Tilføj oplader").click()
    expect(page.get_by_label("Gruppe")).to_have_value(str(Group.objects.get(name="P-hus Vest").pk))
    page.get_by_label("Ladepunkt-id").fill("E2E-VEST-01")
    page.get_by_label("Navn").fill("Vest 01")
    page.get_by_label("Model").fill("Pulsar Plus")
    page.get_by_label("OCPP-version").select_option("1.6")
    # A password is generated unless the admin explicitly chooses none.
    expect(page.get_by_role("radio", name=re.compile("^Lav en OCPP-adgangskode"))).to_be_checked()
    page.get_by_role("button", name="Tilføj oplader").click()
    expect(page.get_by_role("heading", name="OCPP-adgangskode til Vest 01")).to_be_visible()
    password = page.locator("code.secret").inner_text()
    page.get_by_role("link", name="Færdig").click()
    expect(page.get_by_role("heading", name="P-hus Vest", level=1)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Vest 01")).to_contain_text("E2E-VEST-01")

    # The two chargers come online (simulated, the new one with its password); the tree
    # counts them.
    assert Charger.objects.get(charge_point_id="E2E-VEST-01").check_ocpp_password(password)
    make_fleet_online(password=password)
    page.get_by_role("link", name="Grupper", exact=True).first.click()
    vest_row = page.get_by_role("row").filter(has_text="P-hus Vest")
    expect(vest_row).to_contain_text("1 / 1")
    expect(page.get_by_role("row").filter(has_text="Nordlys Energi")).to_contain_text("2 / 2")
    screenshot(page, "grupper.png")

    # 3. Invite the new admin of P-hus Vest.
    page.get_by_role("link", name="P-hus Vest", exact=True).click()
    page.get_by_role("link", name=re.compile(r"^Medlemmer")).click()
    capfd.readouterr()  # only the mail sent from here on
    page.get_by_label("E-mail").fill("vest.admin@example.com")
    page.get_by_label("Rolle").select_option(label="Administrator")
    page.get_by_role("button", name="Tilføj person").click()
    expect(page.get_by_role("status")).to_contain_text("en invitation er sendt pr. e-mail")
    expect(page.get_by_role("row").filter(has_text="vest.admin@example.com")).to_contain_text(
        "inviteret"
    )
    screenshot(page, "medlemmer.png")
    body = mail_body(capfd.readouterr().out)
    link = re.search(r"(http://\S+/invitation/\S+/)", body).group(1)
    assert "Dit brugernavn er: vest.admin@example.com" in body

    # 4. The new admin, in a browser of their own, sets a password and logs in.
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 860})
    try:
        admin = context.new_page()
        admin.goto(link)
        expect(admin.get_by_role("heading", name="Vælg din adgangskode")).to_be_visible()
        admin.get_by_label(re.compile(r"^Ny adgangskode")).fill("vest-lader-2026!")
        admin.get_by_label("Bekræftelse af ny adgangskode").fill("vest-lader-2026!")
        admin.get_by_role("button", name="Gem adgangskode").click()
        expect(admin.get_by_role("heading", name="Log ind")).to_be_visible()
        admin.get_by_label("Brugernavn").fill("vest.admin@example.com")
        admin.get_by_label("Adgangskode").fill("vest-lader-2026!")
        admin.get_by_role("button", name="Log ind").click()

        # 5. They see only their sub-group and its charger.
        expect(admin.get_by_role("heading", name="Opladere")).to_be_visible()
        rows = admin.locator("#charger-results tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Vest 01")
        admin.get_by_role("link", name="Grupper", exact=True).first.click()
        groups = admin.locator("table.tree tbody tr")
        expect(groups).to_have_count(1)
        expect(groups.first).to_contain_text("P-hus Vest")
        expect(admin.get_by_role("link", name="København")).to_have_count(0)

        # 6. And restart it.
        admin.get_by_role("link", name="Opladere").click()
        admin.get_by_role("checkbox", name="Vælg Vest 01").check()
        admin.get_by_role("button", name="Genstart", exact=True).click()
        dialog = admin.get_by_role("dialog", name="Genstart oplader")
        expect(dialog.get_by_role("listitem")).to_have_count(1)
        dialog.get_by_role("button", name="OKAY").click()
        expect(dialog).to_be_hidden()
        expect(admin.get_by_role("row").filter(has_text="Vest 01")).to_contain_text("Genstarter")
        expect(admin.get_by_role("checkbox", name="Vælg Vest 01")).to_be_enabled(timeout=SLOW)
    finally:
        context.close()
    job = RestartJob.objects.get(charger__charge_point_id="E2E-VEST-01")
    assert job.state == RestartJob.State.DONE
    assert not RestartJob.objects.filter(charger__charge_point_id="E2E-KBH-01").exists()


def test_flyt_moves_the_ticked_chargers_after_the_window_lists_them(stack, browser_page, login):
    org = make_org("Nordlys Energi A/S", plan="business")
    root = make_group(org, name="Nordlys Energi")
    syd = make_group(parent=root, name="P-hus Syd")
    make_group(parent=root, name="P-hus Nord")
    for i in (1, 2, 3):
        make_charger(syd, charge_point_id=f"E2E-S-{i}", name=f"Syd {i:02d}", is_connected=False)
    page = browser_page
    login(page, make_member(root, Membership.Role.ADMIN))
    page.goto(stack.url("/chargers/"))

    move = page.get_by_role("button", name="Flyt", exact=True)
    expect(page.get_by_role("checkbox", name="Vælg Syd 01")).to_be_visible()
    expect(move).to_be_hidden()
    page.get_by_role("checkbox", name="Vælg Syd 01").check()
    page.get_by_role("checkbox", name="Vælg Syd 02").check()
    expect(move).to_be_visible()
    move.click()

    dialog = page.get_by_role("dialog", name="Flyt opladere")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("listitem")).to_have_count(2)
    expect(dialog).to_contain_text("Syd 01")
    expect(dialog).not_to_contain_text("Syd 03")
    expect(dialog.get_by_label("Flyt til gruppe")).to_be_focused()
    dialog.get_by_role("button", name="Flyt", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("Ret venligst fejlene")

    dialog.get_by_label("Flyt til gruppe").select_option(label="Nordlys Energi / P-hus Nord")
    dialog.get_by_role("button", name="Flyt", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Opladere flyttet")).to_contain_text(
        "Opladere flyttet til P-hus Nord: 2."
    )
    for name, group in (
        ("Syd 01", "P-hus Nord"),
        ("Syd 02", "P-hus Nord"),
        ("Syd 03", "P-hus Syd"),
    ):
        expect(page.get_by_role("row").filter(has_text=name)).to_contain_text(group)
