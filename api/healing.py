"""/api/v1/groups/{id}/self-healing: a group's self-healing policy, read and set.

The same rules as the Selvhelbredelse page: a group outside yours is 404, a plain user
403 (`not_allowed`); only a super-admin of the group may change it. Through the same
service (`restarts.healing.policy.healing_policy_set`), audited.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as ModelValidationError
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from api import schemas
from api.errors import ApiError
from restarts.healing.models import HealingPolicy
from restarts.healing.policy import Effective, effective_policy, healing_policy_set
from tenancy import access
from tenancy.audit import client_ip

router = Router(tags=["Self-healing"])
ERRORS = frozenset({400, 401, 403, 404, 422, 429})


class PolicyIn(Schema):
    enabled: bool = Field(
        ..., description="Self-healing on for this group (and sub-groups that follow it)."
    )
    faulted_minutes: int = Field(
        10, ge=1, le=1440, description="Faulted this long counts as stuck."
    )
    unresponsive: bool = Field(
        True, description="Probe connected chargers; two misses make one stuck."
    )
    max_per_charger_day: int = Field(
        3, ge=1, le=50, description="Automatic restarts per charger per 24 h."
    )
    max_per_group_hour: int = Field(
        10, ge=1, le=10000, description="Automatic restarts in the group per hour."
    )
    follow_parent: bool = Field(
        False,
        description="Drop this group's own policy and follow the nearest group above instead.",
    )


class PolicyOut(Schema):
    group: int
    # The group whose policy applies (this one, or the nearest above with one); null: none.
    policy_group: int | None
    inherited: bool
    enabled: bool
    faulted_minutes: int
    unresponsive: bool
    max_per_charger_day: int
    max_per_group_hour: int


def _out(group, effective: Effective) -> dict:
    policy = effective.policy or HealingPolicy(group=group)
    return {
        "group": group.pk,
        "policy_group": effective.owner.pk if effective.owner else None,
        "inherited": effective.inherited,
        **policy.as_dict(),
        "enabled": effective.enabled,
    }


def _group(request, group_id: int):
    group = access.get_group_for_user(request.auth, group_id)  # Http404 → 404
    if not access.can_read_self_healing(request.auth, group):
        raise ApiError(403, "not_allowed", _("Only the group's admins see its self-healing."))
    return group


@router.get(
    "groups/{group_id}/self-healing",
    response={200: PolicyOut, ERRORS: schemas.ErrorOut},
    summary="A group's self-healing policy (its own, or the one it follows)",
)
def self_healing_get(request, group_id: int):
    group = _group(request, group_id)
    return _out(group, effective_policy(group))


@router.put(
    "groups/{group_id}/self-healing",
    response={200: PolicyOut, ERRORS: schemas.ErrorOut},
    summary="Set a group's self-healing policy (super-admins of the group)",
)
def self_healing_put(request, group_id: int, payload: PolicyIn):
    group = _group(request, group_id)
    if not access.can_set_self_healing(request.auth, group):
        raise ApiError(
            403, "not_allowed", _("Only a super-admin of the group can change self-healing.")
        )
    if payload.follow_parent and group.parent_id is None:
        raise ApiError(422, "no_parent", _("A top group has no group above to follow."))
    values = None if payload.follow_parent else payload.dict(exclude={"follow_parent"})
    try:
        effective = healing_policy_set(
            actor=request.auth, group=group, values=values, ip=client_ip(request)
        )
    except ModelValidationError as exc:
        raise ApiError(422, "invalid", "; ".join(exc.messages)) from exc
    return _out(group, effective)
