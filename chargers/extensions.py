"""Where a higher floor adds to the charger pages without `chargers` importing it.

The Opladere page shows each row's latest restart, polls while one runs and filters
"restarting"; a charger's page lists its restarts. Restarts live a floor above
chargers, so they register those pieces here (in `RestartsConfig.ready()`), the
same way the gateway tells restarts about boots through `chargers.signals`: the
dependency keeps pointing down, and the pages ask this registry, never `restarts`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Expression, Q, QuerySet


@dataclass(frozen=True)
class StatusFilter:
    """One choice of the page's status filter (and of the API's `status`)."""

    label: str
    condition: Q | Expression  # what `Charger.objects.filter(condition)` keeps


@dataclass(frozen=True)
class Rows:
    """What a higher app adds to the charger rows and to a charger's page.

    annotate: adds columns to the list's own query, before paging (no query per row).
    decorate: sets attributes on one page's chargers; returns the polling interval
        ("2s") the page needs while something is under way, else None.
    detail: the extra context of a charger's page (may set the same attributes).
    """

    annotate: Callable[[QuerySet], QuerySet]
    decorate: Callable[[Iterable], str | None]
    detail: Callable[[object], dict]


@dataclass(frozen=True)
class Banner:
    """Something shown over the Opladere table and kept fresh by the rows' one poll.

    template: rendered with `context`; poll: the interval it needs ("2s"), else None.
    """

    template: str
    context: dict
    poll: str | None = None


_status_filters: dict[str, tuple[StatusFilter, str | None]] = {}
# fn(user) -> Banner | None: e.g. the progress of a bulk restart (restarts).
_banners: list[Callable] = []
_rows: list[Rows] = []
# fn(charger, since, now) -> list[chargers.pictures.TimelineItem]: drawn on its strip.
_timelines: list[Callable] = []


def register_status_filter(key: str, status: StatusFilter, *, before: str | None = None) -> None:
    """Add a status filter, listed before the page's own filter `before` (else last)."""
    _status_filters[key] = (status, before)


def register_rows(rows: Rows) -> None:
    if rows not in _rows:
        _rows.append(rows)


def register_timeline(fn: Callable) -> None:
    """Add what a charger's time line shows (restarts): fn(charger, since, now) -> items."""
    if fn not in _timelines:
        _timelines.append(fn)


def register_banner(fn: Callable) -> None:
    """Add a banner over the Opladere table: fn(user) -> Banner | None."""
    if fn not in _banners:
        _banners.append(fn)


def banners(user) -> list[Banner]:
    return [banner for fn in _banners if (banner := fn(user))]


def shortest_poll(*polls: str | None) -> str | None:
    """The shortest of some polling intervals ("2s", "10s"; None: no poll)."""
    return min(
        (poll for poll in polls if poll),
        key=lambda poll: float(poll.removesuffix("s")),
        default=None,
    )


def timeline(charger, since, now) -> list:
    return [item for fn in _timelines for item in fn(charger, since, now)]


def with_registered_filters(own: dict[str, StatusFilter]) -> dict[str, StatusFilter]:
    """The page's own status filters and the registered ones, in the order listed."""
    merged: dict[str, StatusFilter] = {}
    for key, status in own.items():
        merged.update({k: f for k, (f, before) in _status_filters.items() if before == key})
        merged[key] = status
    merged.update({k: f for k, (f, _) in _status_filters.items() if k not in merged})
    return merged


def annotate_rows(chargers: QuerySet) -> QuerySet:
    for rows in _rows:
        chargers = rows.annotate(chargers)
    return chargers


def decorate_rows(chargers: Iterable) -> str | None:
    """Decorate one page of chargers; the shortest polling interval any extension needs."""
    return shortest_poll(*(rows.decorate(chargers) for rows in _rows))


def detail_context(charger) -> dict:
    context: dict = {}
    for rows in _rows:
        context.update(rows.detail(charger))
    return context
