"""The one place that decides who may see and manage what.

Every view fetches groups (here) and what lives in them (through `scope`, e.g.
`chargers.access`) through these querysets, so an object outside the user's
groups is simply not found: a 404, the same as one that does not exist. Roles
reach down the tree: a membership in a group covers that group and every group
below it.

- see: any membership (super_admin, admin, user)
- manage chargers (add, edit, move, restart): super_admin or admin
- manage people: super_admin or admin, never above their own role (the ceiling)
- shape the tree (create, rename sub-groups; move and delete below one's own
  top group) and read its audit trail: super_admin

Views fetch through the querysets (404 outside the user's groups) and ask the
`can_*` questions for what they may do with what they see (403 when not).
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from tenancy.models import AuditEvent, Group, Membership, Organisation

Role = Membership.Role
SEE_ROLES = (Role.SUPER_ADMIN, Role.ADMIN, Role.USER)
MANAGE_ROLES = (Role.SUPER_ADMIN, Role.ADMIN)
TREE_ROLES = (Role.SUPER_ADMIN,)
# Higher ranks include the powers of lower ones; nobody grants above their own rank.
RANK = {Role.USER: 1, Role.ADMIN: 2, Role.SUPER_ADMIN: 3}


def _root_paths(user, roles) -> list[str]:
    """Paths of the groups where `user` holds one of `roles` (cached per user object)."""
    if not user.is_authenticated or not user.is_active:
        return []
    cache = user.__dict__.setdefault("_access_paths", {})
    key = tuple(sorted(roles))
    if key not in cache:
        cache[key] = list(
            Membership.objects.filter(user=user, role__in=roles).values_list(
                "group__path", flat=True
            )
        )
    return cache[key]


def clear_cache(user) -> None:
    user.__dict__.pop("_access_paths", None)


def _is_platform_admin(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def scope(user, roles, path_field: str) -> Q:
    """A filter for rows in the groups where `user` holds one of `roles`, or below them.

    `path_field` leads from the filtered model to a group's materialized path: "path"
    for groups, "group__path" for anything that belongs to a group (chargers), or a
    copy of it ("group_path" on the audit trail). Platform admins reach every row; a
    user without such a role none (a filter Django answers without a query).
    """
    if _is_platform_admin(user):
        return Q()
    paths = _root_paths(user, roles)
    if not paths:
        return Q(pk__in=[])
    return reduce(or_, (Q(**{f"{path_field}__startswith": p}) for p in paths))


def _groups(user, roles) -> QuerySet[Group]:
    return Group.objects.filter(scope(user, roles, "path"))


def visible_groups(user) -> QuerySet[Group]:
    return _groups(user, SEE_ROLES)


def manageable_groups(user) -> QuerySet[Group]:
    """Groups whose chargers the user may restart, edit and move."""
    return _groups(user, MANAGE_ROLES)


def tree_groups(user) -> QuerySet[Group]:
    """Groups whose structure the user may change and whose audit trail they read."""
    return _groups(user, TREE_ROLES)


def can_manage_any(user) -> bool:
    return bool(user.is_superuser or _root_paths(user, MANAGE_ROLES))


def visible_organisations(user) -> QuerySet[Organisation]:
    return Organisation.objects.filter(pk__in=visible_groups(user).values("organisation_id"))


def get_organisation_for_user(user, pk) -> Organisation:
    try:
        return visible_organisations(user).select_related("subscription").get(pk=pk)
    except (Organisation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def get_group_for_user(user, pk) -> Group:
    try:
        return visible_groups(user).select_related("organisation").get(pk=pk)
    except (Group.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def _role_at(user, path: str) -> str | None:
    if _is_platform_admin(user):
        return Role.SUPER_ADMIN
    for role in (Role.SUPER_ADMIN, Role.ADMIN, Role.USER):
        if any(path.startswith(p) for p in _root_paths(user, (role,))):
            return role
    return None


def role_in_group(user, group: Group) -> str | None:
    """The strongest role `user` holds over `group` (inherited from an ancestor), or None."""
    return _role_at(user, group.path)


def _parent_path(group: Group) -> str | None:
    parts = group.path.strip("/").split("/")
    return "/" + "".join(f"{p}/" for p in parts[:-1]) if len(parts) > 1 else None


def require(allowed: bool) -> None:
    """Turn a `can_*` answer into a 403 for an object the user may see but not change."""
    if not allowed:
        raise PermissionDenied


# -- groups ------------------------------------------------------------------


def can_shape_group(user, group: Group) -> bool:
    """Create sub-groups under `group` and rename it: super-admin over it."""
    return role_in_group(user, group) == Role.SUPER_ADMIN


def can_set_maintenance_window(user, group: Group) -> bool:
    """Set or drop a group's maintenance window: whoever may edit the group."""
    return can_shape_group(user, group)


def can_move_or_delete_group(user, group: Group) -> bool:
    """Move or delete `group`: super-admin over its parent, so a super-admin can never
    carry or delete the top of their own tree (nor anyone an organisation's root)."""
    parent_path = _parent_path(group)
    return parent_path is not None and _role_at(user, parent_path) == Role.SUPER_ADMIN


def group_move_targets(user, group: Group) -> QuerySet[Group]:
    """Where `group` may go: the user's tree in the same organisation, never into itself
    or a descendant."""
    return (
        tree_groups(user)
        .filter(organisation_id=group.organisation_id)
        .exclude(path__startswith=group.path)
    )


# -- self-healing (restarts/healing) -----------------------------------------


def can_read_self_healing(user, group: Group) -> bool:
    """See a group's self-healing policy and what it did: its admins (they get its e-mails)."""
    return role_in_group(user, group) in MANAGE_ROLES


def can_set_self_healing(user, group: Group) -> bool:
    """Turn self-healing on or off and set its limits: super-admin over the group."""
    return role_in_group(user, group) == Role.SUPER_ADMIN


# -- chargers ----------------------------------------------------------------


def can_manage_chargers_in(user, group: Group) -> bool:
    """Add chargers to `group`, edit them and move them in or out."""
    return role_in_group(user, group) in MANAGE_ROLES


# -- people ------------------------------------------------------------------


def can_manage_members_in(user, group: Group) -> bool:
    return role_in_group(user, group) in MANAGE_ROLES


def assignable_roles(user, group: Group) -> list[str]:
    """The roles `user` may give in `group`: none above their own (the role ceiling)."""
    own = role_in_group(user, group)
    if own not in MANAGE_ROLES:
        return []
    return [role for role in Role.values if RANK[role] <= RANK[own]]


def can_manage_membership(user, membership: Membership) -> bool:
    """Change or remove `membership`: a manager of its group whose own role there is at
    least the member's."""
    return membership.role in assignable_roles(user, membership.group)


def member_groups(user) -> QuerySet[Group]:
    """Groups whose members the user may see and manage."""
    return manageable_groups(user)


def memberships_for(user) -> QuerySet[Membership]:
    return Membership.objects.filter(group__in=member_groups(user))


def get_membership_for_user(user, pk) -> Membership:
    """A membership in a group whose people the user manages, or 404."""
    try:
        return memberships_for(user).select_related("group__organisation", "user").get(pk=pk)
    except (Membership.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


# -- audit trail -------------------------------------------------------------


def can_read_audit(user) -> bool:
    return bool(_is_platform_admin(user) or _root_paths(user, TREE_ROLES))


def audit_events(user) -> QuerySet[AuditEvent]:
    """Events recorded anywhere in the trees the user runs as super-admin."""
    return AuditEvent.objects.filter(scope(user, TREE_ROLES, "group_path"))
