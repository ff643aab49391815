"""The restart history as CSV through the API (/api/v1/restarts/export, …/{id}/export).

The same file as the pages' Eksportér CSV (restarts/exports.py), for the same jobs
(restarts.selectors.jobs_in_scope). Mounted before api/v1.py's router, whose
restarts/{restart_id} would otherwise take "export" for an id.
"""

from __future__ import annotations

from django.http import Http404
from ninja import Router

from api import schemas
from api.v1 import ERRORS
from restarts import exports
from restarts import selectors as restart_selectors

router = Router(tags=["Fleet API v1"])


CSV_RESPONSE = {
    "responses": {
        200: {
            "description": "CSV (UTF-8 with BOM), one row per job: request, charger, organisation, "
            "group, state and its code, outcome, evidence (confirmed by, detail), reset type, "
            "queued/sent/accepted/finished times in the charger's organisation's time zone "
            "(named in the last column). Header and texts in the caller's language "
            "(Accept-Language); fields separated by ';' in Danish, ',' in English. Streamed.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


@router.get(
    "restarts/export",
    response={ERRORS: schemas.ErrorOut},
    summary="Every restart job on chargers you manage, as CSV (the history's Eksportér CSV)",
    openapi_extra=CSV_RESPONSE,
)
def restarts_export(request):
    return exports.csv_response(restart_selectors.jobs_in_scope(request.auth), "restarts.csv")


@router.get(
    "restarts/{restart_id}/export",
    response={ERRORS: schemas.ErrorOut},
    summary="One restart request's jobs on chargers you manage, as CSV",
    openapi_extra=CSV_RESPONSE,
)
def restart_export(request, restart_id: int):
    restart_request = restart_selectors.history_for(request.auth).filter(pk=restart_id).first()
    if restart_request is None:
        raise Http404
    jobs = restart_selectors.jobs_in_scope(request.auth, restart_request)
    return exports.csv_response(jobs, f"restart-{restart_request.pk}.csv")
