"""The one place that decides who may see and manage what.

Every view fetches groups and chargers through these querysets, so an object
outside the user's groups is simply not found: a 404, the same as one that does
not exist. Roles reach down the tree: a membership in a group covers that group
and every group below it.

- see: any membership (super_admin, admin, user)
- manage chargers (restart, edit, move): super_admin or admin
- manage the tree and its people: super_admin
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
from django.http import Http404

from chargers.models import Charger
from portal.models import Group, Membership

Role = Membership.Role
SEE_ROLES = (Role.SUPER_ADMIN, Role.ADMIN, Role.USER)
MANAGE_ROLES = (Role.SUPER_ADMIN, Role.ADMIN)
TREE_ROLES = (Role.SUPER_ADMIN,)


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


def _under(paths: list[str], field: str) -> Q | None:
    if not paths:
        return None
    return reduce(or_, (Q(**{f"{field}__startswith": p}) for p in paths))


def _groups(user, roles) -> QuerySet[Group]:
    if user.is_authenticated and user.is_active and user.is_superuser:
        return Group.objects.all()
    q = _under(_root_paths(user, roles), "path")
    return Group.objects.filter(q) if q is not None else Group.objects.none()


def _chargers(user, roles) -> QuerySet[Charger]:
    if user.is_authenticated and user.is_active and user.is_superuser:
        return Charger.objects.all()
    q = _under(_root_paths(user, roles), "group__path")
    return Charger.objects.filter(q) if q is not None else Charger.objects.none()


def visible_groups(user) -> QuerySet[Group]:
    return _groups(user, SEE_ROLES)


def manageable_groups(user) -> QuerySet[Group]:
    """Groups whose chargers the user may restart, edit and move."""
    return _groups(user, MANAGE_ROLES)


def tree_groups(user) -> QuerySet[Group]:
    """Groups whose structure and members the user may change (super-admin)."""
    return _groups(user, TREE_ROLES)


def visible_chargers(user) -> QuerySet[Charger]:
    return _chargers(user, SEE_ROLES)


def manageable_chargers(user) -> QuerySet[Charger]:
    return _chargers(user, MANAGE_ROLES)


def can_manage_any(user) -> bool:
    return bool(user.is_superuser or _root_paths(user, MANAGE_ROLES))


def get_charger_for_user(user, pk) -> Charger:
    """A charger the user may see, or 404 as if it did not exist."""
    try:
        return visible_chargers(user).select_related("group__organisation").get(pk=pk)
    except (Charger.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def get_group_for_user(user, pk) -> Group:
    try:
        return visible_groups(user).select_related("organisation").get(pk=pk)
    except (Group.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def role_in_group(user, group: Group) -> str | None:
    """The strongest role `user` holds over `group` (inherited from an ancestor), or None."""
    if user.is_authenticated and user.is_active and user.is_superuser:
        return Role.SUPER_ADMIN
    for role in (Role.SUPER_ADMIN, Role.ADMIN, Role.USER):
        if any(group.path.startswith(p) for p in _root_paths(user, (role,))):
            return role
    return None
