"""The Wallbox-compatible part: what the `wallbox` PyPI client (0.9) calls, with the
fields it reads. Paths and shapes follow the Wallbox cloud API; the data and the
rules are ours (tenancy.access and chargers.access decide what a user sees)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Router, Status

from api import schemas, selectors, tokens
from api.auth import RefreshToken, user_for_basic
from api.errors import ApiError, refusal
from api.statuses import charger_state, wallbox_status
from api.throttling import AddressThrottle, SigninThrottle
from chargers.access import get_charger_for_user
from restarts import services
from restarts.models import RestartJob, RestartRequest
from tenancy.audit import client_ip

router = Router(tags=["Wallbox-compatible"])

RESTART = 3
# Wallbox's remote action codes, to name the ones we refuse.
REMOTE_ACTIONS = {
    1: gettext_lazy("resume charging"),
    2: gettext_lazy("pause charging"),
    3: gettext_lazy("restart"),
    4: gettext_lazy("factory reset"),
    5: gettext_lazy("update firmware"),
    9: gettext_lazy("resume schedule"),
}


def _token_out(user, pair: tokens.TokenPair) -> dict:
    return {
        "data": {
            "type": "user_token",
            "attributes": {
                "token": pair.token,
                "refresh_token": pair.refresh_token,
                "user_id": user.pk,
                "ttl": pair.ttl,
                "refresh_token_ttl": pair.refresh_token_ttl,
            },
        }
    }


@router.get(
    "users/signin",
    auth=None,
    throttle=[SigninThrottle(), AddressThrottle()],
    response={200: schemas.TokenOut, frozenset({401, 429}): schemas.ErrorOut},
    summary="Sign in with HTTP Basic auth; get a token pair",
)
def signin(request):
    """HTTP Basic auth with the portal's username and password (the Wallbox client
    also sends `Partner: wallbox`, which we accept and do not require)."""
    user = user_for_basic(request)
    if user is None:
        raise ApiError(
            401,
            "bad_credentials",
            _("Wrong username or password."),
            headers={"WWW-Authenticate": 'Basic realm="api"'},
        )
    return _token_out(user, tokens.issue_pair(user, ip=client_ip(request)))


@router.get(
    "users/refresh-token",
    auth=RefreshToken(),
    response={200: schemas.TokenOut, frozenset({401, 429}): schemas.ErrorOut},
    summary="Exchange a refresh token (as Bearer) for a new token pair; the old one retires",
)
def refresh_token(request):
    """Each refresh token works once: the answer carries its successor. Presenting a
    used one again revokes every token of that sign-in (401 `refresh_token_reused`):
    sign in again."""
    grant = request.auth
    try:
        pair = tokens.rotate(grant, ip=client_ip(request))
    except tokens.RefreshReused:
        raise ApiError(
            401,
            "refresh_token_reused",
            _(
                "This refresh token was used before, so every token of this sign-in is now "
                "revoked. Sign in again."
            ),
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        ) from None
    except tokens.RefreshRefused:
        raise ApiError(
            401,
            "refresh_token_revoked",
            _("This refresh token no longer works. Sign in again."),
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        ) from None
    return _token_out(grant.user, pair)


def _summary(charger) -> dict:
    state = charger_state(
        charger, restarting=charger.restart_state in RestartJob.State.restarting()
    )
    status = wallbox_status(state)
    return {
        "id": charger.pk,
        "uid": charger.charge_point_id,
        "name": charger.name,
        "status": status.code,
        "statusDescription": str(status.description),
        "state": state,
        "model": charger.model,
        "serialNumber": charger.serial_number,
        "softwareVersion": charger.firmware_version,
        "connected": charger.is_connected,
    }


@router.get(
    "v3/chargers/groups",
    response={200: schemas.WallboxGroupsOut, frozenset({401, 403, 429}): schemas.ErrorOut},
    summary="The groups the user may see, each with its chargers",
)
def charger_groups(request):
    groups = [
        {
            "id": group.pk,
            "groupId": group.pk,
            "name": group.name,
            "organisation": group.organisation.name,
            "chargers": [_summary(c) for c in chargers],
        }
        for group, chargers in selectors.groups_with_chargers(request.auth)
    ]
    return {"result": {"groups": groups}}


@router.get(
    "chargers/status/{charger_id}",
    response={
        200: schemas.WallboxStatusOut,
        frozenset({401, 403, 404, 422, 429}): schemas.ErrorOut,
    },
    summary="One charger's state in Wallbox's shape",
)
def charger_status(request, charger_id: int):
    charger = get_charger_for_user(request.auth, charger_id)
    state = charger_state(charger, restarting=selectors.is_resetting(charger))
    status = wallbox_status(state)
    return {
        "status_id": status.code,
        "status_description": str(status.description),
        "name": charger.name,
        "state": state,
        "connected": charger.is_connected,
        "ocpp_status": charger.last_status,
        "last_seen_at": charger.last_seen_at,
        "last_boot_at": charger.last_boot_at,
        "config_data": {
            "charger_id": charger.pk,
            "uid": charger.charge_point_id,
            "serial_number": charger.serial_number,
            "name": charger.name,
            "group_id": charger.group_id,
            "part_number": charger.model,
            "software": {"currentVersion": charger.firmware_version, "updateAvailable": False},
            "ocpp_version": charger.ocpp_version,
            "remote_action": charger.supports_remote_restart,
        },
    }


@router.post(
    "v3/chargers/{charger_id}/remote-action",
    response={
        202: schemas.RemoteActionOut,
        frozenset({400, 401, 403, 404, 409, 422, 429}): schemas.ErrorOut,
    },
    summary="Remote action on one charger; only 3 (restart) is supported",
)
def remote_action(request, charger_id: int, payload: schemas.RemoteActionIn):
    """Action 3 restarts the charger through the same service as the portal's own
    single-charger restart. Every other action is refused, naming it."""
    user = request.auth
    charger = get_charger_for_user(user, charger_id)
    if payload.action != RESTART:
        name = REMOTE_ACTIONS.get(payload.action)
        message = (
            _("Remote action %(code)d (%(name)s) is not supported: only 3 (restart) is.")
            % {"code": payload.action, "name": name}
            if name
            else _("Remote action %(code)d is not supported: only 3 (restart) is.")
            % {"code": payload.action}
        )
        raise ApiError(422, "unsupported_action", message)
    try:
        restart_request = services.restart_request_create(
            user=user,
            charger_ids=[charger.pk],
            source=RestartRequest.Source.API,
            ip=client_ip(request),
        ).request
    except services.RestartRefused as exc:
        raise refusal(exc) from exc
    job = restart_request.jobs.get(charger=charger)
    result = {
        "action": RESTART,
        "restart_request_id": restart_request.pk,
        "job_id": job.pk,
        "state": job.state,
    }
    return Status(202, {"result": result})
