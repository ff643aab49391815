"""Adding, editing and moving chargers: who may, what is checked, what is recorded."""

import re

import pytest
from django.core.exceptions import ValidationError

from chargers import manage_services
from chargers.models import Charger
from tenancy.models import AuditEvent, Membership
from tests.factories import make_charger, make_member

Role = Membership.Role


def add(client, group, **overrides):
    data = {
        "group": group.pk,
        "charge_point_id": "NEW-001",
        "name": "Ny lader",
        "model": "Pulsar Plus",
        "ocpp_version": "2.0.1",
        "supports_remote_restart": "on",
        "authentication": "none",
    } | overrides
    return client.post("/chargers/add/", data)


@pytest.fixture
def admin(tree):
    return make_member(tree["a"], Role.ADMIN, username="anna")


def test_admin_adds_a_charger_to_a_group_they_manage(client, tree, admin):
    client.force_login(admin)
    assert client.get(f"/chargers/add/?group={tree['a1'].pk}").status_code == 200
    response = add(client, tree["a1"])
    assert response.status_code == 302 and response["Location"] == f"/groups/{tree['a1'].pk}/"
    charger = Charger.objects.get(charge_point_id="NEW-001")
    assert (charger.group, charger.ocpp_version, charger.supports_remote_restart) == (
        tree["a1"],
        "2.0.1",
        True,
    )
    assert not charger.requires_password
    event = AuditEvent.objects.get(action="charger.create")
    assert event.actor == admin and event.group == tree["a1"]
    assert event.after["charge_point_id"] == "NEW-001"


def test_the_ocpp_password_is_shown_once_and_stored_only_as_a_hash(client, tree, admin):
    client.force_login(admin)
    response = add(client, tree["a"], authentication="generate")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    password = re.search(r'<code class="secret">(\w+)</code>', response.content.decode())[1]
    assert len(password) == 20
    charger = Charger.objects.get(charge_point_id="NEW-001")
    assert password not in charger.password_hash
    assert charger.check_ocpp_password(password) and not charger.check_ocpp_password("wrong")
    assert password not in str(AuditEvent.objects.get().after)
    # The group page and the edit page never show it again.
    assert password not in client.get(f"/groups/{tree['a'].pk}/").content.decode()
    assert password not in client.get(f"/chargers/{charger.pk}/edit/").content.decode()


def test_a_charger_added_through_the_form_gets_a_password_shown_once(client, tree, admin):
    client.force_login(admin)
    page = client.get(f"/chargers/add/?group={tree['a'].pk}").content.decode()
    # Generating one is the choice already made; "none" must be picked, and says why not.
    assert re.search(
        r'<input type="radio" name="authentication" value="generate"[^>]*checked', page
    )
    assert "kan forbinde sig som denne oplader" in page
    response = client.post(
        "/chargers/add/",
        {
            "group": tree["a"].pk,
            "charge_point_id": "NEW-DEFAULT",
            "name": "Ny lader",
            "ocpp_version": "1.6",
            "supports_remote_restart": "on",
            "authentication": "generate",
        },
    )
    assert response.status_code == 200
    password = re.search(r'<code class="secret">(\w+)</code>', response.content.decode())[1]
    charger = Charger.objects.get(charge_point_id="NEW-DEFAULT")
    assert charger.requires_password and charger.check_ocpp_password(password)
    assert "no_password_chosen" not in AuditEvent.objects.get(action="charger.create").after


def test_choosing_no_password_is_explicit_audited_and_warned_on_the_charger_page(
    client, tree, admin
):
    client.force_login(admin)
    missing = add(client, tree["a"], authentication="")
    assert missing.status_code == 200 and not Charger.objects.filter(charge_point_id="NEW-001")
    assert add(client, tree["a"], authentication="none").status_code == 302
    charger = Charger.objects.get(charge_point_id="NEW-001")
    assert not charger.requires_password
    after = AuditEvent.objects.get(action="charger.create").after
    assert after["ocpp_password"] is False and after["no_password_chosen"] is True
    page = client.get(f"/chargers/{charger.pk}/").content.decode()
    warning = re.search(r'<p class="warning" role="note">(.*?)</p>', page, re.S)[1]
    assert "uden OCPP-adgangskode" in warning
    assert f'href="/chargers/{charger.pk}/edit/"' in warning
    # With a password the page says nothing of the kind.
    protected = make_charger(tree["a"], password="Abcdefghij0123456789")
    assert 'class="warning"' not in client.get(f"/chargers/{protected.pk}/").content.decode()


def test_charger_create_without_arguments_makes_a_password(tree, admin):
    charger, password = manage_services.charger_create(
        actor=admin, group=tree["a"], charge_point_id="SVC-001", name="Fra service"
    )
    assert password and len(password) == 20
    charger.refresh_from_db()
    assert charger.check_ocpp_password(password)


@pytest.mark.parametrize(
    ("cp_id", "message"),
    [
        ("CP-00001", "Der findes allerede en oplader med dette ladepunkt-id."),
        ("cp-00001", "Der findes allerede en oplader med dette ladepunkt-id."),
        ("has space", "Brug 1–48 bogstaver"),
        ("colon:id", "Brug 1–48 bogstaver"),
        ("x" * 49, "Brug 1–48 bogstaver"),
        ("", "Dette felt er påkrævet."),
    ],
)
def test_a_duplicate_or_malformed_charge_point_id_is_a_form_error(
    client, tree, admin, cp_id, message
):
    make_charger(tree["b"], charge_point_id="CP-00001")
    client.force_login(admin)
    response = add(client, tree["a"], charge_point_id=cp_id)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Charger.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_nobody_adds_a_charger_outside_their_groups(client, tree, admin):
    client.force_login(admin)
    assert client.get(f"/chargers/add/?group={tree['b'].pk}").status_code == 404
    response = add(client, tree["other_root"])
    assert response.status_code == 200
    assert "Vælg en af de grupper, du administrerer." in response.content.decode()
    with pytest.raises(ValidationError):
        manage_services.charger_create(
            actor=admin, group=tree["b"], charge_point_id="X-1", name="X"
        )
    assert not Charger.objects.exists()


def test_a_plain_user_adds_and_edits_nothing(client, tree):
    user = make_member(tree["a"], Role.USER)
    charger = make_charger(tree["a"])
    client.force_login(user)
    assert client.get("/chargers/add/").status_code == 403
    assert client.get(f"/chargers/add/?group={tree['a'].pk}").status_code == 403
    assert add(client, tree["a"]).status_code == 403
    assert client.post(f"/chargers/{charger.pk}/edit/", {"name": "X"}).status_code == 403
    assert client.get(f"/chargers/move/?charger={charger.pk}").status_code == 403
    move = client.post("/chargers/move/", {"charger": [charger.pk], "group": tree["a"].pk})
    assert move.status_code == 403
    assert Charger.objects.get(pk=charger.pk).group == tree["a"]


def test_edit_changes_fields_and_can_move_the_charger(client, tree, admin):
    charger = make_charger(tree["a"], name="Gammel", password="old-secret-password")
    client.force_login(admin)
    response = client.post(
        f"/chargers/{charger.pk}/edit/",
        {
            "name": "Ny",
            "model": "Copper SB",
            "ocpp_version": "1.6",
            "group": tree["a1"].pk,
            "password": "remove",
        },
    )
    assert response.status_code == 302
    charger.refresh_from_db()
    assert (charger.name, charger.model, charger.supports_remote_restart) == (
        "Ny",
        "Copper SB",
        False,
    )
    assert charger.group == tree["a1"] and not charger.requires_password
    update = AuditEvent.objects.get(action="charger.update")
    assert (update.before["name"], update.after["name"]) == ("Gammel", "Ny")
    assert (update.before["ocpp_password"], update.after["ocpp_password"]) == (True, False)
    move = AuditEvent.objects.get(action="charger.move")
    assert (move.before["group"], move.after["group"]) == ("A", "A1")


def test_a_charger_outside_ones_groups_cannot_be_edited_or_offered_to_move(client, tree, admin):
    other = make_charger(tree["other_root"])
    sibling = make_charger(tree["b"])
    client.force_login(admin)
    for charger in (other, sibling):
        assert client.get(f"/chargers/{charger.pk}/edit/").status_code == 404
        assert client.get(f"/chargers/move/?charger={charger.pk}").status_code == 404
        assert client.post(f"/chargers/{charger.pk}/edit/", {"name": "X"}).status_code == 404


# -- moving several -------------------------------------------------------------


def test_move_page_lists_what_will_move_and_moves_it(client, tree, admin):
    one, two = make_charger(tree["a"], name="Et"), make_charger(tree["a"], name="To")
    client.force_login(admin)
    page = client.get(f"/chargers/move/?charger={one.pk}&charger={two.pk}").content.decode()
    assert "Et" in page and "To" in page
    assert f'value="{tree["a1"].pk}"' in page and f'value="{tree["b"].pk}"' not in page
    response = client.post(
        "/chargers/move/", {"charger": [one.pk, two.pk], "group": tree["a1"].pk}, follow=True
    )
    assert "Opladere flyttet til A1: 2." in response.content.decode()
    assert set(Charger.objects.values_list("group", flat=True)) == {tree["a1"].pk}
    assert AuditEvent.objects.filter(action="charger.move").count() == 2


def test_a_move_with_an_unknown_or_foreign_charger_moves_nothing(client, tree, admin):
    mine = make_charger(tree["a"])
    foreign = make_charger(tree["other_root"])
    client.force_login(admin)
    for bad in (foreign.pk, 999_999, "abc"):
        response = client.post(
            "/chargers/move/", {"charger": [mine.pk, bad], "group": tree["a1"].pk}
        )
        assert response.status_code == 422
        assert "Ukendt oplader i udvalget." in response.content.decode()
    assert Charger.objects.get(pk=mine.pk).group == tree["a"]
    assert Charger.objects.get(pk=foreign.pk).group == tree["other_root"]
    assert not AuditEvent.objects.exists()


def test_chargers_never_move_to_a_group_outside_ones_tree(tree, admin):
    mine = make_charger(tree["a"])
    with pytest.raises(ValidationError):
        manage_services.chargers_move(actor=admin, charger_ids=[mine.pk], group=tree["b"])
    with pytest.raises(ValidationError):
        manage_services.chargers_move(actor=admin, charger_ids=[], group=tree["a1"])
    assert Charger.objects.get(pk=mine.pk).group == tree["a"]


def test_the_flyt_dialog_lists_the_ticked_chargers_and_reloads_the_page_after(client, tree, admin):
    one = make_charger(tree["a"], name="Et")
    client.force_login(admin)
    htmx = {"HTTP_HX_REQUEST": "true"}
    window = client.get(f"/chargers/move/?charger={one.pk}", **htmx).content.decode()
    assert "<html" not in window  # the dialog's content, not a page
    assert 'id="move-dialog-title"' in window and "Disse opladere flyttes (1):" in window
    assert "data-close-dialog" in window
    bad = client.post("/chargers/move/", {"charger": [one.pk]}, **htmx)
    assert bad.status_code == 422 and "Dette felt er påkrævet." in bad.content.decode()
    done = client.post("/chargers/move/", {"charger": [one.pk], "group": tree["a1"].pk}, **htmx)
    assert done.status_code == 204 and done["HX-Refresh"] == "true"
    assert Charger.objects.get(pk=one.pk).group == tree["a1"]


def test_the_flyt_dialog_takes_all_chargers_matching_the_filter(client, tree, admin):
    make_charger(tree["a"], name="Havn 1")
    make_charger(tree["a1"], name="Havn 2")
    make_charger(tree["a"], name="Andet")
    make_charger(tree["b"], name="Havn fremmed")
    client.force_login(admin)
    window = client.get(
        "/chargers/move/?scope=filter&q=Havn", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Disse opladere flyttes (2):" in window
    assert "Havn 1" in window and "Havn 2" in window
    assert "Andet" not in window and "Havn fremmed" not in window


def test_security_profile_is_set_on_create_and_edit_and_audited(client, tree, admin, settings):
    settings.OCPP_DEFAULT_SECURITY_PROFILE = 2
    client.force_login(admin)
    page = client.get(f"/chargers/add/?group={tree['a'].pk}").content.decode()
    assert "Sikkerhedsprofil" in page
    assert re.search(r'<option value="2" selected>Profil 2: TLS og adgangskode</option>', page)
    response = add(client, tree["a"], security_profile="3")
    assert response.status_code == 302
    charger = Charger.objects.get(charge_point_id="NEW-001")
    assert charger.security_profile == 3
    assert AuditEvent.objects.get(action="charger.create").after["security_profile"] == 3
    detail = client.get(f"/chargers/{charger.pk}/").content.decode()
    assert "Profil 3: TLS og klientcertifikat" in detail
    # A post without the field (a script of before) keeps what the charger has.
    edit = {"name": "N", "ocpp_version": "1.6", "group": tree["a"].pk, "password": "keep"}
    assert client.post(f"/chargers/{charger.pk}/edit/", edit).status_code == 302
    charger.refresh_from_db()
    assert charger.security_profile == 3
    assert (
        client.post(f"/chargers/{charger.pk}/edit/", edit | {"security_profile": "1"}).status_code
        == 302
    )
    charger.refresh_from_db()
    assert charger.security_profile == 1


def test_profile_2_needs_an_ocpp_password(client, tree, admin):
    client.force_login(admin)
    response = add(client, tree["a"], security_profile="2")
    assert response.status_code == 200
    assert "Profil 2 kræver en OCPP-adgangskode" in response.content.decode()
    assert not Charger.objects.filter(charge_point_id="NEW-001").exists()
    made = add(client, tree["a"], security_profile="2", authentication="generate")
    assert made.status_code == 200
    charger = Charger.objects.get(charge_point_id="NEW-001")
    assert charger.security_profile == 2 and charger.requires_password
    # Its password cannot be removed while it is profile 2, and nothing else changes.
    edit = {
        "name": "Renamed",
        "ocpp_version": "1.6",
        "group": tree["a"].pk,
        "security_profile": "2",
    }
    refused = client.post(f"/chargers/{charger.pk}/edit/", edit | {"password": "remove"})
    assert refused.status_code == 200
    assert "Profil 2 kræver en OCPP-adgangskode" in refused.content.decode()
    charger.refresh_from_db()
    assert charger.requires_password and charger.name != "Renamed"
    # Profile 3 keeps the password it has; lowering back to 2 then just works.
    manage_services.charger_update(actor=admin, charger=charger, security_profile=3)
    manage_services.charger_update(actor=admin, charger=charger, security_profile=2)
    charger.refresh_from_db()
    assert charger.security_profile == 2 and charger.requires_password
    passwordless = make_charger(tree["a"])
    with pytest.raises(ValidationError):
        manage_services.charger_update(actor=admin, charger=passwordless, security_profile=2)


def test_lowering_a_profile_is_audited_with_before_and_after(tree, admin):
    charger = make_charger(tree["a"], password="a-long-ocpp-password", security_profile=3)
    manage_services.charger_update(actor=admin, charger=charger, security_profile=1, ip="10.1.2.3")
    event = AuditEvent.objects.get(action="charger.update")
    assert (event.before["security_profile"], event.after["security_profile"]) == (3, 1)
    assert event.ip_address == "10.1.2.3" and event.actor == admin
