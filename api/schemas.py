"""Request and response shapes (pydantic via django-ninja): the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

# ---- errors ------------------------------------------------------------------------------


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong, in the caller's language.")
    code: str = Field(description="A stable machine-readable reason.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Field errors, for invalid input."
    )


# ---- the Wallbox-compatible part ---------------------------------------------------------


class TokenAttributes(Schema):
    token: str
    refresh_token: str
    user_id: int
    ttl: int = Field(description="When the token expires, epoch milliseconds.")
    refresh_token_ttl: int = Field(description="When the refresh token expires, epoch ms.")


class TokenData(Schema):
    type: Literal["user_token"] = "user_token"
    attributes: TokenAttributes


class TokenOut(Schema):
    data: TokenData


class WallboxChargerSummary(Schema):
    id: int
    uid: str = Field(description="The charge point id the charger connects with.")
    name: str
    status: int = Field(description="Wallbox status code (see the README's table).")
    statusDescription: str  # noqa: N815 - Wallbox's own field name
    state: str = Field(description="Our state behind the code.")
    model: str
    serialNumber: str  # noqa: N815
    softwareVersion: str  # noqa: N815
    connected: bool


class WallboxGroup(Schema):
    id: int
    groupId: int  # noqa: N815
    name: str
    organisation: str
    chargers: list[WallboxChargerSummary]


class WallboxGroupsResult(Schema):
    groups: list[WallboxGroup]


class WallboxGroupsOut(Schema):
    result: WallboxGroupsResult


class Software(Schema):
    currentVersion: str  # noqa: N815
    updateAvailable: bool = False  # noqa: N815


class ConfigData(Schema):
    charger_id: int
    uid: str
    serial_number: str
    name: str
    group_id: int
    part_number: str
    software: Software
    ocpp_version: str
    remote_action: bool = Field(
        description="Whether the charger can be restarted remotely (action 3)."
    )


class WallboxStatusOut(Schema):
    status_id: int
    status_description: str
    name: str
    state: str
    connected: bool
    ocpp_status: str
    last_seen_at: datetime | None
    last_boot_at: datetime | None
    config_data: ConfigData


class RemoteActionIn(Schema):
    action: int = Field(description="Wallbox remote action code; only 3 (restart) is supported.")


class RemoteActionResult(Schema):
    action: int
    restart_request_id: int
    job_id: int
    state: str = Field(description="The restart job's state (see GET /api/v1/restarts/{id}).")


class RemoteActionOut(Schema):
    result: RemoteActionResult


# ---- our own API -------------------------------------------------------------------------


class GroupRef(Schema):
    id: int
    name: str


class RestartBadge(Schema):
    state: str = Field(description="The latest restart job's state.")
    busy: bool = Field(
        description="The row is disabled: restarting, or waiting for its session to end."
    )
    restarting: bool = Field(description="The reset is under way (the page says Genstarter).")
    text: str = Field(description="What the Opladere row says, in the caller's language.")
    badge: str = Field(description="The badge kind the portal shows: busy, ok, warn, bad or ''.")
    outcome: str | None = Field(
        description="success, warning, failure or neutral (cancelled); null while under way."
    )


class ChargerOut(Schema):
    id: int
    charge_point_id: str
    name: str
    group: GroupRef
    model: str
    vendor: str
    serial_number: str
    firmware_version: str
    ocpp_version: str
    supports_remote_restart: bool
    ocpp_password: bool = Field(
        description="Whether the charger must present its OCPP password (Basic auth)."
    )
    simulated: bool = Field(
        description="A demo charger seed_demo made, played by the demo simulator."
    )
    security_profile: int = Field(
        description="OCPP security profile the gateway requires: 1 password, 2 TLS and "
        "password, 3 TLS and a client certificate whose common name is the charge point id."
    )
    connected: bool
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_seen_at: datetime | None
    last_boot_at: datetime | None
    ocpp_status: str = Field(description="As the charger sent it (OCPP 1.6 or 2.0.1).")
    ocpp_status_text: str = Field(
        description="The same in the caller's language (Accept-Language), for people."
    )
    session_active: bool = Field(description="A session runs on some connector (or EVSE).")
    charging_connectors: list[str] = Field(
        description="The connectors (1.6 connectorId) or EVSEs (2.0.1 evseId) with a session."
    )
    state: str = Field(description="Our state (see the README's status table).")
    wallbox_status: int
    restart: RestartBadge | None = Field(
        description="A restart in progress, or one that ended in the last 24 hours "
        "without a plain success (failed, not confirmed, cancelled)."
    )


class ChargerPage(Schema):
    count: int = Field(description="How many chargers match, over all pages.")
    page: int
    page_size: int
    pages: int
    items: list[ChargerOut]


class ProgressOut(Schema):
    """How far a restart request has come, by outcome (the jobs you manage): the counts
    other than `total` add up to `total`, each job counted once."""

    total: int
    restarted: int = Field(description="Restart confirmed (outcome success).")
    not_confirmed: int = Field(description="Back, restart not confirmed (outcome warning).")
    failed: int = Field(description="Outcome failure.")
    cancelled: int = Field(description="Ended without a verdict (outcome neutral).")
    in_progress: int = Field(description="Under way now (planned ones are counted apart).")
    planned: int = Field(description="Waiting for the request's planned time (not_before).")
    text: str = Field(
        description="The same in the caller's language, e.g. "
        "'312 af 800 genstartet · 3 mislykkedes · 485 i gang'."
    )
