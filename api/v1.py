"""Our own API (/api/v1/): chargers with their connection and restart state, and bulk
restarts through the same service as the confirmation window's OKAY."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Header, Query, Router, Schema, Status

from api import schemas
from api.errors import refusal
from api.statuses import charger_state, wallbox_status
from chargers.selectors import SORTS, charger_filter, status_filters
from chargers.statuses import OCPP_STATUSES, status_of
from restarts import cancel, services
from restarts import selectors as restart_selectors
from restarts.eligibility import REASONS
from restarts.models import RestartJob, RestartRequest
from restarts.progress import progress_from
from tenancy.audit import client_ip

router = Router(tags=["Fleet API v1"])

MAX_PAGE_SIZE = 200
MAX_RESTART_IDS = 10_000
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it as invalid input
SORT_KEYS = tuple(SORTS) + tuple(f"-{key}" for key in SORTS)
ERRORS = frozenset({401, 403, 404, 422, 429})


# ---- chargers ------------------------------------------------------------------------------


class ChargerFilters(Schema):
    """The Opladere page's filters (chargers.selectors.charger_filter), as query parameters."""

    q: str = Field(
        "", max_length=200, pattern=NO_NUL, description="Search in name, charge point id, serial."
    )
    group: int | None = Field(
        None, ge=1, description="A group id: its chargers and its sub-groups'."
    )
    status: Literal[("",) + tuple(status_filters())] = Field(  # type: ignore[valid-type]
        "",
        description="connected, disconnected, charging, restarting, faulted or no_password.",
    )
    ocpp_status: Literal[("",) + tuple(OCPP_STATUSES)] = Field(  # type: ignore[valid-type]
        "", description="The raw OCPP status the charger last reported, e.g. Faulted."
    )
    sort: Literal[SORT_KEYS] = Field(  # type: ignore[valid-type]
        "name", description="A column; prefix with - for descending."
    )
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


def _charger_out(charger) -> dict:
    state = charger_state(
        charger, restarting=charger.restart_state in RestartJob.State.restarting()
    )
    row = restart_selectors.row_restart(
        charger.restart_state,
        charger.restart_finished_at,
        not_before=charger.restart_not_before,
        plan_tz=charger.restart_plan_tz,
    )
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
        "ocpp_password": bool(charger.password_hash),
        "simulated": charger.simulated,
        "security_profile": charger.security_profile,
        "connected": charger.is_connected,
        "connected_at": charger.connected_at,
        "disconnected_at": charger.disconnected_at,
        "last_seen_at": charger.last_seen_at,
        "last_boot_at": charger.last_boot_at,
        "ocpp_status": charger.last_status,
        "ocpp_status_text": str(status_of(charger.last_status).label)
        if charger.last_status
        else "",
        "session_active": charger.session_active,
        "charging_connectors": charger.charging_connectors,
        "state": state,
        "wallbox_status": wallbox_status(state).code,
        "restart": {
            "state": row.state,
            "busy": row.busy,
            "restarting": row.restarting,
            "text": row.text,
            "badge": row.kind,
            "outcome": row.outcome,
        }
        if row
        else None,
    }


@router.get(
    "chargers",
    response={200: schemas.ChargerPage, ERRORS: schemas.ErrorOut},
    summary="Visible chargers with their connection and restart state, paged and filtered",
)
def charger_list(request, filters: Query[ChargerFilters]):
    params = {
        "q": filters.q,
        "group": str(filters.group or ""),
        "status": filters.status,
        "ocpp_status": filters.ocpp_status,
        "sort": filters.sort,
    }
    qs = restart_selectors.with_latest_restart(
        charger_filter(request.auth, params).select_related("group")
    )
    return paged(qs, filters.page, filters.page_size, _charger_out)


def paged(qs, page: int, page_size: int, out) -> dict:
    """One page of `qs` in the API's paging shape (count, page, page_size, pages, items)."""
    count = qs.count()
    start = (page - 1) * page_size
    items = list(qs[start : start + page_size]) if start < count else []
    return {
        "count": count,
        "page": page,
        "page_size": page_size,
        "pages": max(1, math.ceil(count / page_size)),
        "items": [out(item) for item in items],
    }


# ---- restarts ------------------------------------------------------------------------------


class RestartIn(Schema):
    charger_ids: list[int] = Field(
        ..., min_length=1, max_length=MAX_RESTART_IDS, description="The chargers to restart."
    )
    mode: Literal["default", "now"] = Field(
        "default",
        description="default: a charging charger restarts when its session ends; "
        "now: restart at once (Hard / Immediate).",
    )
    not_before: datetime | None = Field(
        None,
        description="Plan the restart: ISO 8601 with an offset (2026-12-03T03:00:00+01:00), "
        "in the future and within 30 days (else 422 bad_plan). Its jobs are `planned` "
        "until then, and can be cancelled until they start.",
    )


class JobOut(Schema):
    id: int
    charger_id: int
    charger_name: str
    charge_point_id: str
    state: Literal[tuple(RestartJob.State.values)]  # type: ignore[valid-type]
    state_text: str
    final: bool = Field(description="False while the job is under way.")
    outcome: Literal["success", "warning", "failure", "neutral"] | None = Field(
        description="How a final job ended (neutral: cancelled); null while under way."
    )
    reset_type: str
    detail: str
    confirmed_by: Literal["", "boot", "trigger", "status"] = Field(
        description="The evidence that made the job done: boot (a BootNotification on a "
        "socket opened after the Reset), trigger (the boot it sent when asked); "
        "empty when not done. status: only on jobs from before that rule."
    )
    boot_reason: str = Field(description="The confirming boot's reason (OCPP 2.0.1).")
    created_at: datetime
    released_at: datetime | None
    sent_at: datetime | None = Field(
        description="When the gateway wrote the Reset to the charger's socket (its clock)."
    )
    answered_at: datetime | None = Field(
        description="When the charger's answer arrived at the gateway; null if none did."
    )
    accepted_at: datetime | None
    scheduled_at: datetime | None
    finished_at: datetime | None


class LeftOut(Schema):
    charger_id: int
    code: str = Field(description="not_found, not_allowed, not_connected, … (see reason)")
    reason: str


class RestartOut(Schema):
    id: int
    requested_at: datetime
    requested_by: str
    source: str
    mode: str
    not_before: datetime | None = Field(description="When a planned restart starts.")
    accepted: list[int] = Field(description="The chargers being restarted (one job each).")
    jobs: list[JobOut]
    progress: schemas.ProgressOut


class RestartCreatedOut(RestartOut):
    replayed: bool = Field(
        description="True when the Idempotency-Key was seen before: this is the first request."
    )
    left_out: list[LeftOut] = Field(description="Chargers asked for but not restarted, and why.")


class RefusedOut(schemas.ErrorOut):
    left_out: list[LeftOut] = []


def _job_out(job: RestartJob) -> dict:
    return {
        "id": job.pk,
        "charger_id": job.charger_id,
        "charger_name": job.charger.name,
        "charge_point_id": job.charger.charge_point_id,
        "state": job.state,
        "state_text": job.get_state_display(),
        "final": job.state_meaning.final,
        "outcome": job.state_meaning.outcome,
        "reset_type": job.reset_type,
        "detail": job.detail,
        "confirmed_by": job.confirmed_by,
        "boot_reason": job.boot_reason,
        "created_at": job.created_at,
        "released_at": job.released_at,
        "sent_at": job.sent_at,
        "answered_at": job.answered_at,
        "accepted_at": job.accepted_at,
        "scheduled_at": job.scheduled_at,
        "finished_at": job.finished_at,
    }


def _restart_out(restart_request: RestartRequest, jobs) -> dict:
    jobs = list(jobs)
    return {
        "id": restart_request.pk,
        "requested_at": restart_request.requested_at,
        "requested_by": restart_request.requested_by_name,
        "source": restart_request.source,
        "mode": restart_request.mode,
        "not_before": restart_request.not_before,
        "accepted": [job.charger_id for job in jobs],
        "jobs": [_job_out(job) for job in jobs],
        "progress": _progress_out(progress_from(job.state for job in jobs)),
    }


def _progress_out(progress) -> dict:
    return {
        "total": progress.total,
        "restarted": progress.succeeded,
        "not_confirmed": progress.warned,
        "failed": progress.failed,
        "cancelled": progress.neutral,
        "in_progress": progress.unfinished,
        "planned": progress.planned,
        "text": progress.text(),
    }


def _left_out(evaluation, asked: list[int]) -> list[dict]:
    """Every asked id that is not being restarted, with its reason code and text.

    Ids the user cannot see are "not_found", exactly like ids that do not exist."""
    out, placed = [], set(evaluation.charger_ids)
    for code in REASONS:
        for charger in evaluation.left_out.get(code, []):
            if charger is not None:
                out.append({"charger_id": charger.pk, "code": code, "reason": str(REASONS[code])})
                placed.add(charger.pk)
    for pk in dict.fromkeys(asked):
        if pk not in placed:
            out.append({"charger_id": pk, "code": "not_found", "reason": str(REASONS["not_found"])})
    return out


@router.post(
    "restarts",
    response={
        200: RestartCreatedOut,
        201: RestartCreatedOut,
        frozenset({400, 401, 403, 404, 409, 422, 429}): RefusedOut,
    },
    summary="Restart chargers: the same eligibility, Business rule, waves and idempotency "
    "as the confirmation window's OKAY",
)
def restart_create(
    request,
    payload: RestartIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        max_length=64,
        pattern=NO_NUL,
        description="Send the same key again to get the first request back instead of a second.",
    ),
):
    user = request.auth
    try:
        started = services.restart_request_create(
            user=user,
            charger_ids=payload.charger_ids,
            mode=payload.mode,
            idempotency_key=idempotency_key,
            source=RestartRequest.Source.API,
            ip=client_ip(request),
            not_before=payload.not_before,
        )
    except services.RestartRefused as exc:
        left_out = _left_out(exc.evaluation, payload.charger_ids) if exc.evaluation else []
        raise refusal(exc, left_out=left_out) from exc

    restart_request = started.request
    jobs = restart_selectors.jobs_for(user, restart_request)
    body = _restart_out(restart_request, jobs)
    if not started.replayed:
        left_out = _left_out(started.evaluation, payload.charger_ids)
        return Status(201, {**body, "replayed": False, "left_out": left_out})
    # A replay: the first request, as it stands now. Its reasons were given the first time.
    accepted = set(body["accepted"])
    left_out = [
        {"charger_id": pk, "code": "left_out", "reason": _("left out when the request was made")}
        for pk in dict.fromkeys(restart_request.asked_ids)
        if pk not in accepted
    ]
    return Status(200, {**body, "replayed": True, "left_out": left_out})


@router.get(
    "restarts/{restart_id}",
    response={200: RestartOut, ERRORS: schemas.ErrorOut},
    summary="A restart request and each job's state with its timestamps",
)
def restart_detail(request, restart_id: int):
    restart_request = restart_selectors.history_for(request.auth).filter(pk=restart_id).first()
    if restart_request is None:
        raise Http404
    return _restart_out(restart_request, restart_selectors.jobs_for(request.auth, restart_request))


class CancelOut(RestartOut):
    cancelled: list[int] = Field(description="The jobs this call cancelled (ids).")
    underway: int = Field(
        description="Unfinished jobs whose Reset was already sent to the charger: a Reset "
        "cannot be taken back, so they go on to their own end."
    )


@router.post(
    "restarts/{restart_id}/cancel",
    response={200: CancelOut, ERRORS: schemas.ErrorOut},
    summary="Cancel a restart's jobs that have not reached their chargers yet",
)
def restart_cancel(request, restart_id: int):
    """Cancels the request's unfinished jobs on chargers you manage whose Reset has not
    gone out (planned, queued, waiting, held back for a session); each ends `cancelled`.
    Jobs already sent are left to finish and counted in `underway`. Audited. Calling it
    again cancels nothing more."""
    try:
        result = cancel.restart_request_cancel(
            user=request.auth, request_id=restart_id, ip=client_ip(request)
        )
    except RestartRequest.DoesNotExist as exc:
        raise Http404 from exc
    restart_request = RestartRequest.objects.get(pk=restart_id)
    body = _restart_out(restart_request, restart_selectors.jobs_for(request.auth, restart_request))
    return {**body, "cancelled": result.cancelled, "underway": result.underway}
