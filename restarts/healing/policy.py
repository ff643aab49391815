"""Which self-healing policy applies where, and the one write that changes a group's.

A group's own `HealingPolicy` row wins; without one it follows the nearest group
above it that has one; with none anywhere above, self-healing is off.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from restarts.healing.models import HealingPolicy
from tenancy import audit
from tenancy.models import Group


@dataclass(frozen=True)
class Effective:
    """The policy that applies to a group, and the group it is set on (None: off)."""

    policy: HealingPolicy | None
    inherited: bool

    @property
    def enabled(self) -> bool:
        return bool(self.policy and self.policy.enabled)

    @property
    def owner(self) -> Group | None:
        return self.policy.group if self.policy else None


def effective_policy(group: Group) -> Effective:
    ids = group.ancestor_ids()
    policies = {
        p.group_id: p
        for p in HealingPolicy.objects.select_related("group").filter(group_id__in=ids)
    }
    for group_id in reversed(ids):
        if group_id in policies:
            return Effective(policies[group_id], inherited=group_id != group.pk)
    return Effective(None, inherited=False)


class PolicyMap:
    """Every policy, loaded once per sweep: the one that applies to a group path."""

    def __init__(self):
        self.by_path = {p.group.path: p for p in HealingPolicy.objects.select_related("group")}

    def for_path(self, path: str) -> HealingPolicy | None:
        parts = path.strip("/").split("/")
        for n in range(len(parts), 0, -1):
            policy = self.by_path.get("/" + "/".join(parts[:n]) + "/")
            if policy is not None:
                return policy
        return None

    def enabled_paths(self) -> list[str]:
        return [path for path, p in self.by_path.items() if p.enabled]


@transaction.atomic
def healing_policy_set(*, actor, group: Group, values: dict | None, ip=None) -> Effective:
    """Set `group`'s own policy to `values` (HealingPolicy.SETTINGS), or with None drop it
    so the group follows the one above again. Audited. Callers check the right
    (`tenancy.access.can_set_self_healing`) and validate the values (forms, schemas)."""
    Group.objects.select_for_update().filter(pk=group.pk).first()
    own = HealingPolicy.objects.filter(group=group).first()
    before = own.as_dict() if own else None
    if values is None:
        if own:
            own.delete()
    else:
        own = own or HealingPolicy(group=group)
        for name in HealingPolicy.SETTINGS:
            setattr(own, name, values[name])
        own.updated_by = actor
        own.full_clean(exclude=["group"])
        own.save()
    after = None if values is None else own.as_dict()
    if before != after:
        audit.record(
            action="self_healing.changed",
            actor=actor,
            ip=ip,
            group=group,
            obj=group,
            summary=f"Self-healing of {group.name}: "
            + (
                "follows the group above"
                if after is None
                else ("on" if after["enabled"] else "off")
            ),
            before=before,
            after=after,
        )
    return effective_policy(group)
