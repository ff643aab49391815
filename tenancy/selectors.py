"""Reads for the group, member and audit pages, always through `tenancy.access`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from tenancy import access
from tenancy.models import AuditEvent, Group, Membership, Organisation


@dataclass
class TreeRow:
    group: Group
    depth: int
    connected: int = 0
    chargers: int = 0
    members: int = 0
    can_shape: bool = False
    can_move: bool = False
    can_manage_chargers: bool = False
    can_manage_members: bool = False


@dataclass
class OrgTree:
    organisation: Organisation
    rows: list[TreeRow] = field(default_factory=list)


def group_tree(user, organisation: Organisation | None = None) -> list[OrgTree]:
    """The groups `user` can see (in `organisation`, if given), per organisation,
    depth-first with siblings by name.

    Charger counts include every sub-group (what the group holds); member counts
    are the group's own memberships. Three queries, whatever the size of the tree.
    Chargers are counted through the reverse relation `Group.chargers`, so this
    floor names no model above it.
    """
    visible = access.visible_groups(user)
    if organisation is not None:
        visible = visible.filter(organisation=organisation)
    groups = list(visible.select_related("organisation__subscription").order_by("path"))
    ids = [g.pk for g in groups]
    direct = {
        row["pk"]: row
        for row in Group.objects.filter(pk__in=ids)
        .values("pk")
        .annotate(
            all=Count("chargers"),
            connected=Count("chargers", filter=Q(chargers__is_connected=True)),
        )
    }
    members = dict(
        Membership.objects.filter(group_id__in=ids)
        .values("group_id")
        .annotate(n=Count("pk"))
        .values_list("group_id", "n")
    )
    by_id = {g.pk: g for g in groups}
    children: dict[int | None, list[Group]] = defaultdict(list)
    for g in groups:
        # A group whose parent the user cannot see is a top of what they see.
        children[g.parent_id if g.parent_id in by_id else None].append(g)

    trees: dict[int, OrgTree] = {}
    rows: dict[int, TreeRow] = {}

    def visit(group: Group, depth: int) -> None:
        row = TreeRow(
            group=group,
            depth=depth,
            members=members.get(group.pk, 0),
            can_shape=access.can_shape_group(user, group),
            can_move=access.can_move_or_delete_group(user, group),
            can_manage_chargers=access.can_manage_chargers_in(user, group),
            can_manage_members=access.can_manage_members_in(user, group),
        )
        org = trees.setdefault(group.organisation_id, OrgTree(group.organisation))
        org.rows.append(row)
        rows[group.pk] = row
        for child in sorted(children[group.pk], key=lambda g: g.name.lower()):
            visit(child, depth + 1)

    for top in sorted(children[None], key=lambda g: (g.organisation.name, g.name.lower())):
        visit(top, 0)

    for group_id, counts in direct.items():
        for ancestor_id in by_id[group_id].ancestor_ids():
            if ancestor_id in rows:
                rows[ancestor_id].chargers += counts["all"]
                rows[ancestor_id].connected += counts["connected"]
    return list(trees.values())


def organisations_without_business(user) -> list[Organisation]:
    """Organisations whose chargers `user` manages that have no active Business plan
    (lapsed, or Basic): there, chargers restart one at a time."""
    if not user.is_authenticated:
        return []
    organisations = Organisation.objects.filter(
        pk__in=access.manageable_groups(user).values("organisation_id")
    ).select_related("subscription")
    return [org for org in organisations if not org.has_active_business()]


def group_chargers(user, group: Group):
    """The group's own chargers that `user` may see (through the reverse relation)."""
    in_scope = access.scope(user, access.SEE_ROLES, "group__path")
    return group.chargers.filter(in_scope).order_by("name", "pk")


def group_members(user, group: Group) -> tuple[list[Membership], list[Membership]]:
    """The group's own members, and those who reach it from a group above (read-only
    here), as far as `user` may see people."""
    own = list(
        access.memberships_for(user)
        .filter(group=group)
        .select_related("user", "group")
        .order_by("user__username")
    )
    above = list(
        access.memberships_for(user)
        .filter(group_id__in=group.ancestor_ids())
        .exclude(group=group)
        .select_related("user", "group")
        .order_by("group__path", "user__username")
    )
    return own, above


# -- audit trail -------------------------------------------------------------

ACTION_LABELS = {
    "group.create": _("Group created"),
    "group.rename": _("Group renamed"),
    "group.move": _("Group moved"),
    "group.delete": _("Group deleted"),
    "group.maintenance_window": _("Maintenance window changed"),
    "member.add": _("Member added"),
    "member.role": _("Role changed"),
    "member.remove": _("Member removed"),
    "charger.create": _("Charger added"),
    "charger.update": _("Charger changed"),
    "charger.move": _("Charger moved"),
}

FIELD_LABELS = {
    "name": _("Name"),
    "parent": _("Parent group"),
    "maintenance_window": _("Maintenance window"),
    "path": None,  # internal: shown as the parent's name instead
    "group_path": None,
    "group": _("Group"),
    "user": _("User"),
    "role": _("Role"),
    "members": _("Members"),
    "charge_point_id": _("Charge point id"),
    "model": _("Model"),
    "ocpp_version": _("OCPP version"),
    "supports_remote_restart": _("Can be restarted remotely"),
    "ocpp_password": _("OCPP password"),
    "security_profile": _("Security profile"),
}


def _show(key: str, value):
    if value is None:
        return "–"
    if key == "role" and value in Membership.Role.values:
        return Membership.Role(value).label
    if key == "ocpp_password" and value == "new":
        return _("new")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "–"
    return str(value)


@dataclass
class AuditRow:
    event: AuditEvent
    label: str
    changes: list[tuple[str, str, str]]


def audit_rows(events) -> list[AuditRow]:
    """Each event with a readable action and the fields that changed (label, before, after)."""
    rows = []
    for event in events:
        before, after = event.before or {}, event.after or {}
        changes = []
        for key in dict.fromkeys([*before, *after]):
            label = FIELD_LABELS.get(key, key)
            if label is None or before.get(key) == after.get(key):
                continue
            changes.append((str(label), _show(key, before.get(key)), _show(key, after.get(key))))
        label = ACTION_LABELS.get(event.action, event.action)
        rows.append(AuditRow(event=event, label=str(label), changes=changes))
    return rows


def audit_events(user):
    return access.audit_events(user).select_related("group")
