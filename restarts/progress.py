"""How far a restart request has come: counts by outcome, read from the state table.

"312 af 800 genstartet · 3 mislykkedes · 485 i gang": the Opladere page's bar, the
request's history page and the summary e-mail say it the same way. Counted in one
aggregate over the jobs a user may see (`selectors.jobs_in_scope`), never by loading them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from restarts.models import RestartJob, RestartRequest
from restarts.selectors import jobs_in_scope

# A bulk restart that ended stays on the Opladere page this long with its final counts
# (the poll stops once nothing runs, so the last refresh shows how it ended).
LINGER = timedelta(minutes=2)
# Bars shown at most (the newest requests); the history has the rest.
MAX_BARS = 3


def states_with(outcome: str | None) -> tuple[str, ...]:
    """The job states with `outcome` (None: under way; "planned": waiting for its planned
    time, not under way yet), from RestartJob.State."""
    State = RestartJob.State
    if outcome == "planned":
        return (State.PLANNED,)
    if outcome is None:
        return tuple(s for s in State.unfinished() if s != State.PLANNED)
    return State.with_outcome(outcome)


@dataclass(frozen=True)
class Progress:
    total: int
    succeeded: int  # "genstartet": the restart is confirmed
    warned: int  # ended, restart not confirmed (counted apart, never as success)
    failed: int  # "mislykkedes"
    neutral: int  # ended without a verdict (cancelled)
    unfinished: int  # "i gang"
    planned: int = 0  # waiting for their planned time: not under way, nothing to poll for

    @property
    def running(self) -> bool:
        return self.unfinished > 0

    @property
    def ended(self) -> int:
        return self.total - self.unfinished - self.planned

    @property
    def percent(self) -> int:
        return round(100 * self.ended / self.total) if self.total else 100

    def segments(self) -> list[tuple[str, float, float]]:
        """(kind, x %, width %) of the bar's coloured pieces: restarted, not confirmed,
        failed, cancelled; what is still under way stays empty."""
        pieces, x = [], 0.0
        for kind, count in (
            ("ok", self.succeeded),
            ("warn", self.warned),
            ("bad", self.failed),
            ("neutral", self.neutral),
        ):
            if count and self.total:
                width = 100 * count / self.total
                pieces.append((kind, round(x, 3), round(width, 3)))
                x += width
        return pieces

    def parts(self) -> list[str]:
        """The sentence in pieces, in the active language; zero counts other than the
        first two are left out."""
        parts = [
            _("%(done)d of %(total)d restarted") % {"done": self.succeeded, "total": self.total},
            _("%(count)d failed") % {"count": self.failed},
        ]
        if self.warned:
            parts.append(_("%(count)d not confirmed") % {"count": self.warned})
        if self.neutral:
            parts.append(_("%(count)d cancelled") % {"count": self.neutral})
        if self.unfinished:
            parts.append(_("%(count)d in progress") % {"count": self.unfinished})
        if self.planned:
            parts.append(_("%(count)d planned") % {"count": self.planned})
        return parts

    def text(self) -> str:
        return " · ".join(self.parts())


OUTCOMES = {
    "succeeded": "success",
    "warned": "warning",
    "failed": "failure",
    "neutral": "neutral",
    "unfinished": None,
    "planned": "planned",
}


def _counts() -> dict:
    """Count(...) per Progress field, for an aggregate over jobs."""
    return {
        name: Count("pk", filter=Q(state__in=states_with(outcome)))
        for name, outcome in OUTCOMES.items()
        if states_with(outcome)
    }


def _progress(row: dict) -> Progress:
    return Progress(**{name: row.get(name, 0) for name in ("total", *OUTCOMES)})


def progress_of(jobs: QuerySet[RestartJob]) -> Progress:
    """Count `jobs` by outcome in one query."""
    return _progress(jobs.order_by().aggregate(total=Count("pk"), **_counts()))


def progress_from(states) -> Progress:
    """Count job states already at hand (no query)."""
    states = list(states)
    counts = {
        name: sum(state in states_with(outcome) for state in states)
        for name, outcome in OUTCOMES.items()
    }
    return Progress(total=len(states), **counts)


@dataclass(frozen=True)
class RequestProgress:
    """One bulk restart on the Opladere page: its request and how far it has come."""

    id: int
    requested_at: datetime
    requested_by_name: str
    progress: Progress


def bulk_restarts_under_way(user, now=None) -> list[RequestProgress]:
    """Bulk restarts (more than one job in `user`'s scope) running now, or ended within
    LINGER, newest first; counted over the whole request, not a page, in one query."""
    now = now or timezone.now()
    running = RestartJob.objects.filter(state__in=states_with(None)).values("request_id")
    # Requests with a job under way (partial index), or recent ones that may just have
    # ended (not summed up yet, or only just): the jobs of nothing else are read.
    # (A planned one started at its time, maybe days after it was asked for.)
    day_ago = now - timedelta(days=1)
    just_ended = (Q(requested_at__gte=day_ago) | Q(not_before__gte=day_ago)) & (
        Q(summarised_at__isnull=True) | Q(summarised_at__gte=now - LINGER)
    )
    candidates = RestartRequest.objects.filter(Q(pk__in=running) | just_ended).values("pk")
    rows = (
        jobs_in_scope(user)
        .filter(request__in=candidates)
        .values("request_id", "request__requested_at", "request__requested_by_name")
        .annotate(total=Count("pk"), last_end=Max("finished_at"), **_counts())
        .filter(total__gt=1)
        .filter(Q(unfinished__gt=0) | Q(last_end__gte=now - LINGER))
        .order_by("-request__requested_at", "-request_id")[:MAX_BARS]
    )
    return [
        RequestProgress(
            row["request_id"],
            row["request__requested_at"],
            row["request__requested_by_name"],
            _progress(row),
        )
        for row in rows
    ]
