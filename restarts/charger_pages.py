"""What restarts add to the charger pages, through `chargers.extensions`.

Registered in `RestartsConfig.ready()`: each row's latest restart and the polling
while one runs, the "restarting" status filter (page and API), a charger's
restart history, and the bar of a bulk restart's progress over the Opladere
table. Chargers sit below restarts, so they ask their registry for these, never
this module.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from chargers import extensions
from chargers.pictures import TimelineItem
from restarts.cancel import is_not_yet_sent
from restarts.models import RestartJob
from restarts.progress import bulk_restarts_under_way
from restarts.selectors import attach_row_restarts, with_latest_restart

# `pk IN (the restarting jobs' chargers)`, not a correlated EXISTS: PostgreSQL hashes the
# few restarting chargers once, so counting them among 5,000 (the fleet at a glance on
# every rows poll) costs a hash probe per row instead of an index lookup per row.
RESTARTING = extensions.StatusFilter(
    _("Restarting"),
    Q(
        pk__in=RestartJob.objects.filter(state__in=RestartJob.State.restarting()).values(
            "charger_id"
        )
    ),
)


def charger_page(charger) -> dict:
    """A charger's ten latest restarts; its row state is the newest one's (no extra query),
    and whether that one can still be cancelled (its Reset has not gone out)."""
    jobs = list(charger.restart_jobs.select_related("request").order_by("-created_at", "-pk")[:10])
    charger.restart_state = jobs[0].state if jobs else None
    charger.restart_finished_at = jobs[0].finished_at if jobs else None
    charger.restart_not_before = jobs[0].request.not_before if jobs else None
    charger.restart_plan_tz = charger.group.organisation.time_zone
    cancellable = bool(jobs) and is_not_yet_sent(jobs[0])
    return {"jobs": jobs, "poll": attach_row_restarts([charger]), "cancellable": cancellable}


def charger_timeline(charger, since, now) -> list[TimelineItem]:
    """The charger's restarts since `since`: from sending (or queueing) to their end."""
    jobs = (
        charger.restart_jobs.filter(Q(finished_at__gte=since) | Q(finished_at__isnull=True))
        .filter(created_at__lte=now)
        .order_by("created_at", "pk")
        .only("state", "created_at", "sent_at", "finished_at")
    )
    return [
        TimelineItem(
            start=job.sent_at or job.created_at,
            end=job.finished_at or now,
            outcome=job.state_meaning.outcome,
            text=job.get_state_display(),
        )
        for job in jobs
    ]


ROWS = extensions.Rows(
    annotate=with_latest_restart, decorate=attach_row_restarts, detail=charger_page
)


def progress_banner(user) -> extensions.Banner | None:
    """The bar over the Opladere table while a bulk restart of `user`'s chargers runs.

    It rides on the rows' one poll (which it keeps going, 2 s, while a request runs,
    even when none of its chargers are on this page)."""
    if not user.is_authenticated:
        return None
    under_way = bulk_restarts_under_way(user)
    if not under_way:
        return None
    poll = "2s" if any(item.progress.running for item in under_way) else None
    return extensions.Banner("restarts/_progress.html", {"under_way": under_way}, poll)


def register() -> None:
    extensions.register_banner(progress_banner)
    extensions.register_status_filter("restarting", RESTARTING, before="faulted")
    extensions.register_rows(ROWS)
    extensions.register_timeline(charger_timeline)
