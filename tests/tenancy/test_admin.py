"""The Django admin is the platform operators' tool: superusers only, every write audited.

A staff flag, whatever portal role comes with it, opens nothing here: the portal's rules
(tenancy/access.py) are the only ones tenants meet. Each bypass the admin used to allow
is tried as a staff admin and must change nothing.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.forms import CheckboxInput, MultiWidget
from django.test import Client
from django.urls import reverse

from chargers.models import Charger
from tenancy import audit
from tenancy.models import AuditEvent, Group, Membership, Organisation
from tests.factories import make_charger, make_member, make_user

Role = Membership.Role
PROXIED = {"HTTP_X_FORWARDED_FOR": "198.51.100.20"}  # through the (trusted) local proxy


def page_data(response) -> dict:
    """What a browser submits from an admin add/change page as it was rendered."""
    data = {}

    def add(form):
        for bound in form:
            value, widget, name = bound.value(), bound.field.widget, bound.html_name
            if isinstance(widget, CheckboxInput):
                if value:
                    data[name] = "on"
            elif isinstance(widget, MultiWidget):
                for n, part in enumerate(widget.decompress(value)):
                    if part is not None:
                        data[f"{name}_{n}"] = str(part)
            elif isinstance(value, list | tuple):
                data[name] = [str(v) for v in value]
            elif value is not None:
                data[name] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


@pytest.fixture
def operator(db):
    return make_user("operator", password="op-pw", is_staff=True, is_superuser=True)


def staff(group, role, username="staffer"):
    return make_member(group, role, username=username, password="staff-pw", is_staff=True)


def logged_in(user, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(user)
    return client


def _refused(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_staff_user_who_is_not_a_superuser_is_kept_out_of_every_admin_page(tree, operator):
    staffer = staff(tree["root"], Role.SUPER_ADMIN)
    make_charger(tree["a"])
    AuthGroup.objects.create(name="ops")
    audit.record(action="test.event", actor=operator, group=tree["a"])
    client = logged_in(staffer)
    urls = [
        "/admin/",
        reverse("admin:autocomplete")
        + "?app_label=portal&model_name=membership&field_name=user&term=a",
    ]
    changes = 0
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls += [reverse(f"{info}_changelist"), reverse(f"{info}_add")]
        obj = model._default_manager.first()
        if obj is not None:
            changes += 1
            urls += [
                reverse(f"{info}_change", args=[obj.pk]),
                reverse(f"{info}_delete", args=[obj.pk]),
            ]
    assert changes >= 7  # users, groups, organisations, memberships, chargers, audit, …
    for url in urls:
        assert _refused(client.get(url)), url
        assert _refused(client.post(url, {"name": "x", "post": "yes"})), url
    assert Organisation.objects.filter(name="x").count() == 0


def test_a_staff_admin_cannot_add_a_membership_above_their_role_through_the_admin(tree):
    staffer = staff(tree["a"], Role.ADMIN)
    newcomer = make_user("newcomer")
    response = logged_in(staffer).post(
        reverse("admin:portal_membership_add"),
        {"user": newcomer.pk, "group": tree["a"].pk, "role": Role.SUPER_ADMIN},
    )
    assert _refused(response)
    assert not Membership.objects.filter(user=newcomer).exists()


def test_a_staff_admin_cannot_edit_an_organisation_where_they_are_a_plain_user(tree):
    staffer = staff(tree["root"], Role.USER)
    url = reverse("admin:portal_organisation_change", args=[tree["org"].pk])
    assert _refused(logged_in(staffer).post(url, {"name": "Taken over"}))
    tree["org"].refresh_from_db()
    assert tree["org"].name == "Nordlys"


def test_a_staff_admin_cannot_change_a_chargers_charge_point_id(tree):
    staffer = staff(tree["a"], Role.ADMIN)
    charger = make_charger(tree["a"], charge_point_id="CP-REAL")
    url = reverse("admin:chargers_charger_change", args=[charger.pk])
    response = logged_in(staffer).post(
        url, {"charge_point_id": "CP-HIJACK", "name": charger.name, "group": tree["a"].pk}
    )
    assert _refused(response)
    assert Charger.objects.get(pk=charger.pk).charge_point_id == "CP-REAL"


def test_the_charge_point_id_and_password_hash_are_read_only_even_for_superusers(tree, operator):
    charger = make_charger(tree["a"], charge_point_id="CP-REAL", password="secret-pw")
    stored_hash = charger.password_hash
    client = logged_in(operator)
    url = reverse("admin:chargers_charger_change", args=[charger.pk])
    page = client.get(url)
    body = page.content.decode()
    assert 'name="charge_point_id"' not in body and 'name="password_hash"' not in body
    assert "CP-REAL" in body  # shown, not editable
    data = {**page_data(page), "charge_point_id": "CP-HIJACK", "password_hash": "x", "name": "New"}
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    charger.refresh_from_db()
    assert (charger.name, charger.charge_point_id) == ("New", "CP-REAL")
    assert charger.password_hash == stored_hash
    # A new charger gets its id in the admin, once.
    assert (
        'name="charge_point_id"'
        in client.get(reverse("admin:chargers_charger_add")).content.decode()
    )


def test_every_admin_write_by_a_superuser_is_audited(tree, operator):
    client = logged_in(operator, **PROXIED)

    # A group added.
    page = client.get(reverse("admin:portal_group_add"))
    data = {**page_data(page), "organisation": tree["org"].pk, "parent": tree["a"].pk, "name": "Ny"}
    assert client.post(reverse("admin:portal_group_add"), data).status_code == 302
    new_group = Group.objects.get(name="Ny")
    added = AuditEvent.objects.get(action="admin.group.add")
    assert added.actor == operator and added.ip_address == "198.51.100.20"
    assert added.group == new_group and added.after["name"] == "Ny"

    # A membership's role changed in the group's inline.
    member = make_member(tree["a"], Role.USER, username="inline-member")
    url = reverse("admin:portal_group_change", args=[tree["a"].pk])
    data = page_data(client.get(url))
    row = next(k for k, v in data.items() if k.endswith("-user") and str(v) == str(member.pk))
    data[row.replace("-user", "-role")] = Role.ADMIN
    assert client.post(url, data).status_code == 302
    assert Membership.objects.get(user=member).role == Role.ADMIN
    changed = AuditEvent.objects.get(action="admin.membership.change")
    assert (changed.before, changed.after) == ({"role": "user"}, {"role": "admin"})
    assert changed.group == tree["a"]

    # A charger deleted.
    charger = make_charger(tree["a1"], charge_point_id="CP-GONE")
    url = reverse("admin:chargers_charger_delete", args=[charger.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    gone = AuditEvent.objects.get(action="admin.charger.delete")
    assert gone.object_id == str(charger.pk)
    assert gone.group == tree["a1"] and not Charger.objects.filter(pk=charger.pk).exists()

    # Two memberships deleted with the changelist's "delete selected" action.
    doomed = [make_member(tree["b"], Role.USER) for _ in range(2)]
    pks = [m.memberships.get().pk for m in doomed]
    response = client.post(
        reverse("admin:portal_membership_changelist"),
        {"action": "delete_selected", "_selected_action": pks, "post": "yes"},
    )
    assert response.status_code == 302
    deleted = AuditEvent.objects.filter(action="admin.membership.delete")
    assert sorted(int(e.object_id) for e in deleted) == sorted(pks)

    # Django's own user admin too: making someone a superuser is on the record.
    target = make_user("promoted")
    url = reverse("admin:auth_user_change", args=[target.pk])
    data = {**page_data(client.get(url)), "is_superuser": "on", "is_staff": "on"}
    assert client.post(url, data).status_code == 302
    promoted = AuditEvent.objects.get(action="admin.user.change")
    assert promoted.before["is_superuser"] is False and promoted.after["is_superuser"] is True
    assert all(e.actor == operator for e in AuditEvent.objects.filter(action__startswith="admin."))


def test_the_admin_says_it_is_for_superusers_only(tree, client):
    staff(tree["a"], Role.SUPER_ADMIN)
    page = client.get("/admin/login/")
    body = page.content.decode()
    assert "Platformadministration: kun for superbrugere" in body
    assert "kun superbrugere kan logge ind her" in body
    # A staff member with the right password is told the same and stays out.
    response = client.post("/admin/login/", {"username": "staffer", "password": "staff-pw"})
    assert response.status_code == 200
    assert "åbner ikke administrationen" in response.content.decode()
    assert _refused(client.get("/admin/"))
