"""The management questions tenancy/access.py answers: shape, move, people, audit."""

from tenancy import access, audit
from tenancy.models import Membership
from tests.factories import make_member

Role = Membership.Role


def test_super_admin_shapes_their_tree_but_moves_only_below_its_top(tree):
    sub_boss = make_member(tree["a"], Role.SUPER_ADMIN)
    assert access.can_shape_group(sub_boss, tree["a"])
    assert access.can_shape_group(sub_boss, tree["a1"])
    assert not access.can_shape_group(sub_boss, tree["root"])
    assert access.can_move_or_delete_group(sub_boss, tree["a1"])
    assert not access.can_move_or_delete_group(sub_boss, tree["a"])
    root_boss = make_member(tree["root"], Role.SUPER_ADMIN)
    assert access.can_move_or_delete_group(root_boss, tree["a"])
    assert not access.can_move_or_delete_group(root_boss, tree["root"])


def test_admins_manage_chargers_and_people_but_not_the_tree(tree):
    admin = make_member(tree["a"], Role.ADMIN)
    assert access.can_manage_chargers_in(admin, tree["a1"])
    assert access.can_manage_members_in(admin, tree["a1"])
    assert not access.can_shape_group(admin, tree["a1"])
    assert not access.can_move_or_delete_group(admin, tree["a1"])
    assert not access.can_manage_chargers_in(admin, tree["b"])


def test_role_ceiling_is_the_actors_own_role_in_that_group(tree):
    admin = make_member(tree["a"], Role.ADMIN)
    make_member(tree["a1"], Role.SUPER_ADMIN, user=admin)
    assert access.assignable_roles(admin, tree["a"]) == [Role.ADMIN, Role.USER]
    assert access.assignable_roles(admin, tree["a1"]) == [
        Role.SUPER_ADMIN,
        Role.ADMIN,
        Role.USER,
    ]
    assert access.assignable_roles(make_member(tree["a"], Role.USER), tree["a"]) == []
    boss = Membership.objects.get(user=make_member(tree["a"], Role.SUPER_ADMIN))
    assert not access.can_manage_membership(admin, boss)


def test_move_targets_exclude_the_subtree_and_other_organisations(tree):
    boss = make_member(tree["root"], Role.SUPER_ADMIN)
    make_member(tree["other_root"], Role.SUPER_ADMIN, user=boss)
    targets = set(access.group_move_targets(boss, tree["a"]))
    assert targets == {tree["root"], tree["b"]}


def test_audit_events_are_those_of_the_trees_one_runs(tree):
    boss = make_member(tree["a"], Role.SUPER_ADMIN)
    mine = audit.record(action="x", group=tree["a1"])
    audit.record(action="x", group=tree["b"])
    audit.record(action="x", group=tree["other_root"])
    assert list(access.audit_events(boss)) == [mine]
    assert not access.audit_events(make_member(tree["root"], Role.ADMIN)).exists()
