"""Our own API (/api/v1/): the list of restart requests, as the history page shows them.

On v1's router (the path `restarts` is v1's POST too: one path, one router)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Query, Schema

from api import schemas
from api.v1 import paged, router
from restarts import selectors
from restarts.models import RestartRequest

MAX_PAGE_SIZE = 200
ERRORS = frozenset({401, 403, 422, 429})


class RestartFilters(Schema):
    source: Literal[("",) + tuple(RestartRequest.Source.values)] = Field(  # type: ignore[valid-type]
        "", description="Only requests made this way: web, api."
    )
    state: Literal[("",) + tuple(selectors.REQUEST_STATES)] = Field(  # type: ignore[valid-type]
        "",
        description="planned (waiting for its planned time), running (jobs under way) or "
        "finished (every job ended).",
    )
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class JobCounts(Schema):
    total: int
    done: int
    not_confirmed: int
    failed: int
    cancelled: int
    in_progress: int = Field(description="Unfinished, planned ones included.")
    planned: int


class RestartSummaryOut(Schema):
    id: int
    requested_at: datetime
    requested_by: str
    source: str
    mode: str
    not_before: datetime | None
    state: str = Field(description="planned, running or finished.")
    jobs: JobCounts = Field(description="Counted over the chargers you manage.")


class RestartListOut(Schema):
    count: int
    page: int
    page_size: int
    pages: int
    items: list[RestartSummaryOut]


def _summary(item) -> dict:
    return {
        "id": item.pk,
        "requested_at": item.requested_at,
        "requested_by": item.requested_by_name,
        "source": item.source,
        "mode": item.mode,
        "not_before": item.not_before,
        "state": selectors.request_state(item),
        "jobs": {
            "total": item.total,
            "done": item.done,
            "not_confirmed": item.warnings,
            "failed": item.failed,
            "cancelled": item.cancelled,
            "in_progress": item.pending,
            "planned": item.planned,
        },
    }


@router.get(
    "restarts",
    response={200: RestartListOut, ERRORS: schemas.ErrorOut},
    summary="Restart requests touching chargers you manage, newest first, paged and filtered",
)
def restart_list(request, filters: Query[RestartFilters]):
    qs = selectors.history_for(request.auth)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.state:
        qs = qs.filter(selectors.REQUEST_STATES[filters.state])
    return paged(qs, filters.page, filters.page_size, _summary)
