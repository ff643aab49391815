"""Grupper: the tree page, creating, renaming, moving and deleting groups."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tenancy import services
from tenancy.models import AuditEvent, Group, Membership
from tests.factories import make_charger, make_group, make_member

Role = Membership.Role


def reload(group):
    return Group.objects.get(pk=group.pk)


@pytest.fixture
def boss(tree):
    return make_member(tree["root"], Role.SUPER_ADMIN, username="boss")


# -- the tree page -------------------------------------------------------------


def test_tree_shows_groups_with_charger_and_member_counts(client, tree, boss):
    make_charger(tree["a1"], is_connected=True)
    make_charger(tree["a1"], is_connected=False)
    make_charger(tree["b"], is_connected=True)
    make_member(tree["a"], Role.USER)
    client.force_login(boss)
    body = client.get("/groups/").content.decode()
    assert "Grupper" in body
    rows = {
        name: body.split(f">{name}</a>", 1)[1].split("</tr>", 1)[0]
        for name in ("Root", "A", "A1", "B")
    }
    assert "2 / 3" in rows["Root"]  # connected / all, sub-groups included
    assert "1 / 2" in rows["A"] and "1 / 2" in rows["A1"]
    assert "1 / 1" in rows["B"]
    assert "Medlemmer af A: 1" in rows["A"]
    assert "Other root" not in body


def test_admin_sees_only_the_groups_they_administer(client, tree):
    client.force_login(make_member(tree["a"], Role.ADMIN))
    body = client.get("/groups/").content.decode()
    assert ">A</a>" in body and ">A1</a>" in body
    assert ">Root</a>" not in body and ">B</a>" not in body


def test_plain_user_sees_their_groups_read_only(client, tree):
    client.force_login(make_member(tree["a"], Role.USER))
    assert ">A1</a>" in client.get("/groups/").content.decode()
    detail = client.get(f"/groups/{tree['a'].pk}/").content.decode()
    assert "Ny undergruppe" not in detail and "Tilføj oplader" not in detail
    assert client.get(f"/groups/{tree['a'].pk}/new/").status_code == 403
    response = client.post(f"/groups/{tree['a'].pk}/new/", {"name": "Nope"})
    assert response.status_code == 403
    assert client.post(f"/groups/{tree['a1'].pk}/rename/", {"name": "X"}).status_code == 403
    assert client.get(f"/groups/{tree['a'].pk}/members/").status_code == 403
    assert not Group.objects.filter(name="Nope").exists()


def test_a_group_of_another_organisation_is_404(client, tree, boss):
    client.force_login(boss)
    other = tree["other_root"].pk
    for url in (
        f"/groups/{other}/",
        f"/groups/{other}/new/",
        f"/groups/{other}/rename/",
        f"/groups/{other}/move/",
        f"/groups/{other}/delete/",
        f"/groups/{other}/members/",
        f"/organisations/{tree['other'].pk}/",
        "/groups/999999/",
    ):
        assert client.get(url).status_code == 404, url


def test_admin_of_a_subgroup_gets_404_for_its_parent_and_siblings(client, tree):
    client.force_login(make_member(tree["a"], Role.ADMIN))
    assert client.get(f"/groups/{tree['root'].pk}/").status_code == 404
    assert client.get(f"/groups/{tree['b'].pk}/").status_code == 404
    assert client.get(f"/groups/{tree['a1'].pk}/").status_code == 200


# -- create and rename -----------------------------------------------------------


def test_super_admin_creates_a_sub_group_and_it_is_audited(client, tree, boss):
    client.force_login(boss)
    response = client.post(f"/groups/{tree['a'].pk}/new/", {"name": "  P-hus  Vest "})
    new = Group.objects.get(name="P-hus Vest")
    assert response.status_code == 302 and response["Location"] == f"/groups/{new.pk}/"
    assert new.parent == tree["a"] and new.path == f"{tree['a'].path}{new.pk}/"
    event = AuditEvent.objects.get(action="group.create")
    assert event.actor == boss and event.group == new and event.after["parent"] == "A"


def test_a_sibling_name_clash_is_a_form_error(client, tree, boss):
    client.force_login(boss)
    response = client.post(f"/groups/{tree['root'].pk}/new/", {"name": "a"})
    assert response.status_code == 200
    assert "Der findes allerede en gruppe ved navn “a” her." in response.content.decode()
    assert tree["root"].children.count() == 2
    assert not AuditEvent.objects.exists()


def test_an_empty_name_is_a_form_error(client, tree, boss):
    client.force_login(boss)
    response = client.post(f"/groups/{tree['root'].pk}/new/", {"name": ""})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_rename_checks_the_siblings_and_is_audited(client, tree, boss):
    client.force_login(boss)
    clash = client.post(f"/groups/{tree['b'].pk}/rename/", {"name": "A"})
    assert "Der findes allerede en gruppe" in clash.content.decode()
    assert reload(tree["b"]).name == "B"
    assert client.post(f"/groups/{tree['b'].pk}/rename/", {"name": "Bee"}).status_code == 302
    assert reload(tree["b"]).name == "Bee"
    event = AuditEvent.objects.get(action="group.rename")
    assert (event.before["name"], event.after["name"]) == ("B", "Bee")


def test_super_admin_of_a_subtree_shapes_it_but_not_above_it(tree):
    sub_boss = make_member(tree["a"], Role.SUPER_ADMIN)
    group = services.group_create(actor=sub_boss, parent=tree["a1"], name="Deep")
    assert group.parent == tree["a1"]
    with pytest.raises(PermissionDenied):
        services.group_create(actor=sub_boss, parent=tree["root"], name="High")
    with pytest.raises(PermissionDenied):
        admin = make_member(tree["root"], Role.ADMIN)
        services.group_create(actor=admin, parent=tree["a"], name="X")


# -- move ------------------------------------------------------------------------


def test_move_carries_the_whole_subtree_and_rewrites_every_path(tree, boss):
    deep = make_group(parent=tree["a1"], name="Deep")
    services.group_move(actor=boss, group=tree["a"], new_parent=tree["b"])
    a, a1, deep = reload(tree["a"]), reload(tree["a1"]), reload(deep)
    b = tree["b"]
    assert a.parent_id == b.pk
    assert a.path == f"{b.path}{a.pk}/"
    assert a1.path == f"{b.path}{a.pk}/{a1.pk}/"
    assert deep.path == f"{a1.path}{deep.pk}/"
    assert set(reload(b).subtree()) == {b, a, a1, deep}
    event = AuditEvent.objects.get(action="group.move")
    assert (event.before["parent"], event.after["parent"]) == ("Root", "B")


def test_moving_changes_who_sees_the_moved_chargers(tree, boss):
    from chargers.access import visible_chargers
    from tenancy import access

    charger = make_charger(tree["a1"])
    b_admin = make_member(tree["b"], Role.ADMIN)
    assert charger not in visible_chargers(b_admin)
    services.group_move(actor=boss, group=tree["a"], new_parent=tree["b"])
    access.clear_cache(b_admin)
    assert charger in visible_chargers(b_admin)


@pytest.mark.parametrize("target", ["a", "a1"])
def test_a_group_never_moves_into_itself_or_a_descendant(tree, boss, target):
    before = {g.pk: g.path for g in Group.objects.all()}
    with pytest.raises(ValidationError) as err:
        services.group_move(actor=boss, group=tree["a"], new_parent=tree[target])
    assert "parent" in err.value.error_dict
    assert {g.pk: g.path for g in Group.objects.all()} == before


def test_moving_into_a_descendant_from_the_form_is_a_form_error(client, tree, boss):
    client.force_login(boss)
    response = client.post(f"/groups/{tree['a'].pk}/move/", {"parent": tree["a1"].pk})
    assert response.status_code == 200
    assert "ikke er denne gruppe eller en af dens undergrupper" in response.content.decode()
    assert reload(tree["a"]).parent == tree["root"]


def test_move_form_offers_only_groups_of_ones_tree_outside_the_subtree(client, tree, boss):
    client.force_login(boss)
    body = client.get(f"/groups/{tree['a'].pk}/move/").content.decode()
    assert f'value="{tree["b"].pk}"' in body
    for excluded in ("a", "a1", "root", "other_root"):  # itself, below, current parent, other org
        assert f'value="{tree[excluded].pk}"' not in body


def test_a_group_never_moves_out_of_ones_tree(tree):
    sub_boss = make_member(tree["a"], Role.SUPER_ADMIN)
    a1_child = make_group(parent=tree["a1"], name="C")
    # Into a group above their tree, into another organisation: refused.
    with pytest.raises(ValidationError):
        services.group_move(actor=sub_boss, group=a1_child, new_parent=tree["b"])
    with pytest.raises(ValidationError):
        services.group_move(actor=sub_boss, group=a1_child, new_parent=tree["other_root"])
    # The top of their own tree cannot be carried away either.
    with pytest.raises(PermissionDenied):
        services.group_move(actor=sub_boss, group=tree["a"], new_parent=tree["b"])
    assert reload(a1_child).parent == tree["a1"]
    # Within their tree it works.
    services.group_move(actor=sub_boss, group=a1_child, new_parent=tree["a"])
    assert reload(a1_child).parent == tree["a"]


def test_a_move_into_a_group_with_the_same_name_is_refused(tree, boss):
    make_group(parent=tree["b"], name="A1")
    with pytest.raises(ValidationError) as err:
        services.group_move(actor=boss, group=tree["a1"], new_parent=tree["b"])
    assert "name" in err.value.error_dict
    assert reload(tree["a1"]).parent == tree["a"]


def test_the_root_of_an_organisation_cannot_be_moved_or_deleted(client, tree, boss):
    client.force_login(boss)
    assert client.get(f"/groups/{tree['root'].pk}/move/").status_code == 403
    assert client.post(f"/groups/{tree['root'].pk}/delete/").status_code == 403
    assert Group.objects.filter(pk=tree["root"].pk).exists()


# -- delete ----------------------------------------------------------------------


def test_only_an_empty_group_is_deleted(client, tree, boss):
    client.force_login(boss)
    with_children = client.post(f"/groups/{tree['a'].pk}/delete/")
    assert "flyt dens undergrupper først" in with_children.content.decode()
    make_charger(tree["b"])
    with_chargers = client.post(f"/groups/{tree['b'].pk}/delete/")
    assert "flyt dens opladere først" in with_chargers.content.decode()
    assert Group.objects.filter(pk__in=[tree["a"].pk, tree["b"].pk]).count() == 2

    member = make_member(tree["a1"], Role.USER)
    response = client.post(f"/groups/{tree['a1'].pk}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/groups/{tree['a'].pk}/"
    assert not Group.objects.filter(pk=tree["a1"].pk).exists()
    assert not Membership.objects.filter(user=member).exists()
    event = AuditEvent.objects.get(action="group.delete")
    assert event.group == tree["a"] and event.summary == "A1"
    assert event.before["members"] == [f"{member.username} (user)"]
