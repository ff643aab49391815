"""/api/v1/groups/{id}/maintenance-window: a group's maintenance window, read and set.

The same rules as the group page: a group outside yours is 404; everyone who sees the
group reads its window; whoever may edit the group (`tenancy.access
.can_set_maintenance_window`) sets it, through the same audited service. Times are
local ("01:00") in the organisation's time zone, given beside them.
"""

from __future__ import annotations

from datetime import time

from django.core.exceptions import ValidationError as ModelValidationError
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from api import schemas
from api.errors import ApiError
from tenancy import access
from tenancy.audit import client_ip
from tenancy.maintenance import group_maintenance_window_set, maintenance_window

router = Router(tags=["Maintenance window"])
ERRORS = frozenset({400, 401, 403, 404, 422, 429})


class WindowIn(Schema):
    start: time | None = Field(
        ..., description="Local start (HH:MM) in the organisation's time zone; null with end: none."
    )
    end: time | None = Field(
        ..., description="Local end (HH:MM); may be past midnight (22:00–04:00)."
    )


class WindowOut(Schema):
    group: int
    # The group whose window applies (this one, or the nearest above with one); null: none.
    window_group: int | None
    inherited: bool
    start: str | None
    end: str | None
    time_zone: str


def _out(group) -> dict:
    window = maintenance_window(group)
    return {
        "group": group.pk,
        "window_group": window.owner.pk if window else None,
        "inherited": bool(window and window.inherited_by(group)),
        "start": f"{window.start:%H:%M}" if window else None,
        "end": f"{window.end:%H:%M}" if window else None,
        "time_zone": group.organisation.time_zone,
    }


@router.get(
    "groups/{group_id}/maintenance-window",
    response={200: WindowOut, ERRORS: schemas.ErrorOut},
    summary="A group's maintenance window (its own, or the one it follows)",
)
def maintenance_window_get(request, group_id: int):
    return _out(access.get_group_for_user(request.auth, group_id))


@router.put(
    "groups/{group_id}/maintenance-window",
    response={200: WindowOut, ERRORS: schemas.ErrorOut},
    summary="Set a group's maintenance window (whoever may edit the group); nulls drop it",
)
def maintenance_window_put(request, group_id: int, payload: WindowIn):
    group = access.get_group_for_user(request.auth, group_id)
    if not access.can_set_maintenance_window(request.auth, group):
        raise ApiError(
            403, "not_allowed", _("Only a super-admin of the group can set its maintenance window.")
        )
    try:
        group = group_maintenance_window_set(
            actor=request.auth,
            group=group,
            start=payload.start,
            end=payload.end,
            ip=client_ip(request),
        )
    except ModelValidationError as exc:
        raise ApiError(422, "bad_window", "; ".join(exc.messages)) from exc
    return _out(group)
