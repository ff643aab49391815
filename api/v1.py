"""Our own API (/api/v1/): chargers with their connection and restart state, and bulk restarts."""

from __future__ import annotations

import math
from typing import Literal

from ninja import Field, Query, Router, Schema

from api import schemas, selectors
from api.statuses import charger_state, wallbox_status

router = Router(tags=["Fleet API v1"])

MAX_PAGE_SIZE = 200
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it as invalid input


class ChargerFilters(Schema):
    q: str = Field(
        "", max_length=200, pattern=NO_NUL, description="Search in name, charge point id, serial."
    )
    group: int | None = Field(None, description="A group id: its chargers and its sub-groups'.")
    connected: bool | None = Field(None, description="Only connected (true) or not (false).")
    ocpp_status: str = Field(
        "", max_length=32, pattern=NO_NUL, description="Last OCPP status, e.g. Available."
    )
    sort: Literal[tuple(selectors.SORTS)] = "name"  # type: ignore[valid-type]
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


def _charger_out(charger) -> dict:
    state = charger_state(charger)
    return {
        "id": charger.pk,
        "charge_point_id": charger.charge_point_id,
        "name": charger.name,
        "group": {"id": charger.group_id, "name": charger.group.name},
        "model": charger.model,
        "vendor": charger.vendor,
        "serial_number": charger.serial_number,
        "firmware_version": charger.firmware_version,
        "ocpp_version": charger.ocpp_version,
        "supports_remote_restart": charger.supports_remote_restart,
        "connected": charger.is_connected,
        "connected_at": charger.connected_at,
        "disconnected_at": charger.disconnected_at,
        "last_seen_at": charger.last_seen_at,
        "last_boot_at": charger.last_boot_at,
        "ocpp_status": charger.last_status,
        "session_active": charger.session_active,
        "state": state,
        "wallbox_status": wallbox_status(state).code,
    }


@router.get(
    "chargers",
    response={200: schemas.ChargerPage, frozenset({401, 403, 422, 429}): schemas.ErrorOut},
    summary="Visible chargers with their connection and restart state, paged and filtered",
)
def charger_list(request, filters: Query[ChargerFilters]):
    qs = selectors.charger_list(
        request.auth,
        q=filters.q,
        group=filters.group,
        connected=filters.connected,
        ocpp_status=filters.ocpp_status,
        sort=filters.sort,
    )
    count = qs.count()
    start = (filters.page - 1) * filters.page_size
    items = list(qs[start : start + filters.page_size]) if start < count else []
    return {
        "count": count,
        "page": filters.page,
        "page_size": filters.page_size,
        "pages": max(1, math.ceil(count / filters.page_size)),
        "items": [_charger_out(c) for c in items],
    }
