"""How far a restart request has come: counts by outcome, read from the state table.

"312 af 800 genstartet · 3 mislykkedes · 485 i gang": the Opladere page's bar, the
request's history page and the summary e-mail say it the same way. Counted in one
aggregate over the jobs a user may see (`selectors.jobs_in_scope`), never by loading them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from restarts.models import RestartJob


def states_with(outcome: str | None) -> tuple[str, ...]:
    """The job states with `outcome` (None: still under way), from RestartJob.State."""
    State = RestartJob.State
    return State.unfinished() if outcome is None else State.with_outcome(outcome)


@dataclass(frozen=True)
class Progress:
    total: int
    succeeded: int  # "genstartet": the restart is confirmed
    warned: int  # ended, restart not confirmed (counted apart, never as success)
    failed: int  # "mislykkedes"
    neutral: int  # ended without a verdict (cancelled)
    unfinished: int  # "i gang"

    @property
    def running(self) -> bool:
        return self.unfinished > 0

    @property
    def ended(self) -> int:
        return self.total - self.unfinished

    @property
    def percent(self) -> int:
        return round(100 * self.ended / self.total) if self.total else 100

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
        return parts

    def text(self) -> str:
        return " · ".join(self.parts())


def progress_of(jobs: QuerySet[RestartJob]) -> Progress:
    """Count `jobs` by outcome in one query."""
    outcomes = {
        "succeeded": "success",
        "warned": "warning",
        "failed": "failure",
        "neutral": "neutral",
        "unfinished": None,
    }
    counts = {
        name: Count("pk", filter=Q(state__in=states_with(outcome)))
        for name, outcome in outcomes.items()
        if states_with(outcome)
    }
    totals = jobs.order_by().aggregate(total=Count("pk"), **counts)
    return Progress(**dict.fromkeys(outcomes, 0) | totals)
