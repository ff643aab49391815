"""Who sees and manages which chargers: the rules every view relies on."""

import pytest
from django.http import Http404

from chargers.access import get_charger_for_user, manageable_chargers, visible_chargers
from tenancy import access
from tenancy.models import Membership
from tests.factories import make_charger, make_member, make_user

Role = Membership.Role


@pytest.fixture
def fleet(tree):
    return {
        "root": make_charger(tree["root"]),
        "a": make_charger(tree["a"]),
        "a1": make_charger(tree["a1"]),
        "b": make_charger(tree["b"]),
        "other": make_charger(tree["other_root"]),
    }


def ids(qs):
    return set(qs.values_list("pk", flat=True))


def test_member_sees_chargers_of_their_group_and_every_subgroup(tree, fleet):
    user = make_member(tree["a"], Role.USER)
    assert ids(visible_chargers(user)) == {fleet["a"].pk, fleet["a1"].pk}


def test_member_sees_nothing_of_parent_or_sibling_groups(tree, fleet):
    user = make_member(tree["a"], Role.ADMIN)
    visible = ids(visible_chargers(user))
    assert fleet["root"].pk not in visible
    assert fleet["b"].pk not in visible


def test_super_admin_of_root_sees_the_whole_tree_but_not_another_organisation(tree, fleet):
    user = make_member(tree["root"], Role.SUPER_ADMIN)
    assert ids(visible_chargers(user)) == {
        fleet["root"].pk,
        fleet["a"].pk,
        fleet["a1"].pk,
        fleet["b"].pk,
    }
    assert ids(manageable_chargers(user)) == ids(visible_chargers(user))


def test_admin_of_one_organisation_sees_nothing_of_another(tree, fleet):
    user = make_member(tree["other_root"], Role.ADMIN)
    assert ids(visible_chargers(user)) == {fleet["other"].pk}
    assert not set(access.visible_groups(user)) & {tree["root"], tree["a"], tree["b"]}


def test_plain_user_manages_nothing(tree, fleet):
    user = make_member(tree["root"], Role.USER)
    assert len(ids(visible_chargers(user))) == 4
    assert ids(manageable_chargers(user)) == set()
    assert not access.manageable_groups(user).exists()
    assert not access.can_manage_any(user)


def test_admin_manages_but_does_not_run_the_tree(tree, fleet):
    user = make_member(tree["a"], Role.ADMIN)
    assert ids(manageable_chargers(user)) == {fleet["a"].pk, fleet["a1"].pk}
    assert not access.tree_groups(user).exists()


def test_roles_combine_over_several_memberships(tree, fleet):
    user = make_member(tree["a"], Role.USER)
    make_member(tree["b"], Role.ADMIN, user=user)
    assert ids(visible_chargers(user)) == {fleet["a"].pk, fleet["a1"].pk, fleet["b"].pk}
    assert ids(manageable_chargers(user)) == {fleet["b"].pk}


def test_user_without_memberships_and_inactive_user_see_nothing(tree, fleet):
    assert not visible_chargers(make_user()).exists()
    inactive = make_member(tree["root"], Role.SUPER_ADMIN, is_active=False)
    assert not visible_chargers(inactive).exists()


def test_charger_outside_ones_groups_is_404_like_a_missing_one(tree, fleet):
    user = make_member(tree["a"], Role.ADMIN)
    assert get_charger_for_user(user, fleet["a1"].pk) == fleet["a1"]
    for pk in (fleet["other"].pk, fleet["b"].pk, 999_999, "x"):
        with pytest.raises(Http404):
            get_charger_for_user(user, pk)


def test_role_in_group_is_inherited_from_ancestors(tree):
    user = make_member(tree["root"], Role.ADMIN)
    make_member(tree["a"], Role.SUPER_ADMIN, user=user)
    assert access.role_in_group(user, tree["a1"]) == Role.SUPER_ADMIN
    assert access.role_in_group(user, tree["b"]) == Role.ADMIN
    assert access.role_in_group(user, tree["other_root"]) is None


def test_group_paths_follow_the_tree(tree):
    assert tree["a1"].path == f"/{tree['root'].pk}/{tree['a'].pk}/{tree['a1'].pk}/"
    assert set(tree["a"].subtree()) == {tree["a"], tree["a1"]}
