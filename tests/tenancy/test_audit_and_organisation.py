"""The audit trail page and the organisation page with its subscription."""

import pytest

from tenancy import access, audit, services
from tenancy.models import Membership
from tests.factories import make_group, make_member, make_org

Role = Membership.Role


def test_super_admins_read_the_trail_of_their_tree_only(client, tree):
    boss = make_member(tree["root"], Role.SUPER_ADMIN, username="boss")
    services.group_rename(actor=boss, group=tree["b"], name="Bravo")
    stranger = make_member(tree["other_root"], Role.SUPER_ADMIN, username="stranger")
    services.group_create(actor=stranger, parent=tree["other_root"], name="Fremmed")
    # Another kind of event (as restarts write them) shows too, by its action code.
    audit.record(action="restart.request", actor=boss, group=tree["a1"], summary="2 chargers")

    client.force_login(boss)
    body = client.get("/audit/").content.decode()
    assert "Hændelseslog" in body
    assert "Gruppe omdøbt" in body and "Navn: B → Bravo" in body
    assert "restart.request" in body and "2 chargers" in body
    assert "Fremmed" not in body


@pytest.mark.parametrize("role", [Role.ADMIN, Role.USER])
def test_admins_and_users_have_no_audit_page(client, tree, role):
    client.force_login(make_member(tree["root"], role))
    assert client.get("/audit/").status_code == 404
    assert "Hændelseslog" not in client.get("/groups/").content.decode()


def test_audit_page_pages_through_many_events(client, tree):
    boss = make_member(tree["root"], Role.SUPER_ADMIN)
    for i in range(55):
        audit.record(action="group.rename", actor=boss, group=tree["a"], summary=f"n{i}")
    client.force_login(boss)
    first = client.get("/audit/").content.decode()
    assert "Side 1 af 2" in first and ">n54<" in first and ">n0<" not in first
    assert ">n0<" in client.get("/audit/?page=2").content.decode()


def test_organisation_page_shows_the_plan_and_its_validity(client, tree):
    user = make_member(tree["a"], Role.USER)
    make_member(tree["other_root"], Role.USER, user=user)
    client.force_login(user)
    body = client.get(f"/organisations/{tree['org'].pk}/").content.decode()
    assert ">A1</a>" in body and "Other root" not in body  # its own groups only
    assert "Abonnement" in body and "Wallbox-erhverv" in body and "Aktivt" in body
    assert "Massegenstart kræver Wallbox-erhverv" not in body


def test_a_lapsed_business_plan_says_what_it_means(client, db):
    org = make_org("Udløbet", plan="business", active=False)
    group = make_group(org)
    client.force_login(make_member(group, Role.ADMIN))
    body = client.get(f"/organisations/{org.pk}/").content.decode()
    assert '<span class="badge bad">Udløbet</span>' in body
    assert "Massegenstart kræver Wallbox-erhverv" in body


def test_a_basic_plan_also_says_bulk_restart_needs_business(client, db):
    org = make_org("Lille ApS", plan="basic")
    client.force_login(make_member(make_group(org), Role.ADMIN))
    body = client.get(f"/organisations/{org.pk}/").content.decode()
    assert "<dd>Basis</dd>" in body and "Massegenstart kræver Wallbox-erhverv" in body


def render_notice(user):
    from django.template import Context, Template
    from django.test import RequestFactory

    request = RequestFactory().get("/chargers/")
    request.user = user
    template = Template("{% load groups_tags %}{% bulk_restart_notice %}")
    return template.render(Context({"request": request})).strip()


def test_bulk_action_notice_names_the_organisations_without_business(tree):
    lapsed = make_org("Udløbet ApS", plan="business", active=False)
    admin = make_member(tree["a"], Role.ADMIN)
    assert render_notice(admin) == ""
    make_member(make_group(lapsed), Role.ADMIN, user=admin)
    access.clear_cache(admin)  # a new request would load the user afresh
    notice = render_notice(admin)
    assert "Massegenstart kræver Wallbox-erhverv" in notice
    assert "Udløbet ApS har intet aktivt erhvervsabonnement" in notice
    assert "Nordlys" not in notice
    # A plain user has no bulk actions, so no notice either.
    user = make_member(make_group(lapsed), Role.USER)
    assert render_notice(user) == ""


def test_the_organisation_page_names_the_time_zone_its_reports_use(client, tree):
    tree["org"].time_zone = "Atlantic/Faroe"
    tree["org"].save(update_fields=["time_zone"])
    client.force_login(make_member(tree["a"], Role.USER))
    body = client.get(f"/organisations/{tree['org'].pk}/").content.decode()
    assert "<dt>Tidszone</dt><dd data-time-zone>Atlantic/Faroe</dd>" in body


def test_an_organisation_time_zone_must_be_a_real_one(db):
    from django.core.exceptions import ValidationError

    org = make_org()
    org.time_zone = "Europe/Atlantis"
    with pytest.raises(ValidationError, match="Ikke en tidszone: Europe/Atlantis"):
        org.full_clean()
