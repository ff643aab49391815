"""Pictures of a charger, as plain data for server-rendered SVG (no queries here).

``connection_strip`` turns the charger's history (chargers.ChargerEvent) and the
restarts a higher floor reports (``chargers.extensions.timeline``) into at most
``columns`` segments over the last ``days`` days: each column takes the strongest
state in it (restarting > disconnected > faulted > connected > unknown) and equal
neighbours merge, so a flapping charger still draws at most ``columns`` rectangles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

UNKNOWN, CONNECTED, FAULTED, DISCONNECTED, RESTARTING = range(5)
KINDS = ("unknown", "connected", "faulted", "disconnected", "restarting")
LABELS: dict[str, Promise] = {
    "unknown": _("No data"),
    "connected": _("Connected"),
    "faulted": _("Faulted"),
    "disconnected": _("Disconnected"),
    "restarting": _("Restarting"),
}
WIDTH = 700  # the SVG's viewBox width: one unit per column


@dataclass(frozen=True)
class TimelineItem:
    """Something a higher floor drew onto a charger's time line (a restart)."""

    start: datetime
    end: datetime
    outcome: str | None  # success / warning / failure / neutral; None while under way
    text: str | Promise


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    kind: str
    start: datetime
    end: datetime

    @property
    def label(self) -> Promise:
        return LABELS[self.kind]


@dataclass(frozen=True)
class Mark:
    x: float
    outcome: str
    at: datetime
    text: str | Promise


@dataclass(frozen=True)
class Tick:
    x: float
    day: datetime


@dataclass
class Strip:
    start: datetime
    end: datetime
    segments: list[Segment] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    shares: dict[str, int] = field(default_factory=dict)  # kind -> whole percent

    @property
    def restarts(self) -> int:
        return len(self.marks)

    @property
    def has_data(self) -> bool:
        return any(s.kind != "unknown" for s in self.segments)


def _apply(state: tuple[bool, bool] | None, kind: str) -> tuple[bool, bool] | None:
    """(connected, faulted) after a history event; None is "nothing known yet"."""
    connected, faulted = state or (False, False)
    if kind in ("connected", "booted"):
        # A new socket (or boot): a fault is only known again when it is reported again.
        return True, False if kind == "connected" else faulted
    if kind == "disconnected":
        return False, False
    if kind == "faulted":
        return connected, True
    if kind == "recovered":
        return connected, False
    return state


def _level(state: tuple[bool, bool] | None) -> int:
    if state is None:
        return UNKNOWN
    connected, faulted = state
    if not connected:
        return DISCONNECTED
    return FAULTED if faulted else CONNECTED


def connection_strip(
    *,
    events: list[tuple[datetime, str]],
    before: str | None,
    restarts: list[TimelineItem],
    now: datetime,
    days: int = 7,
    columns: int = WIDTH,
    day_starts: list[datetime] = (),
) -> Strip:
    """`events`: (at, kind) in the window, oldest first; `before`: the kind of the last
    event before it (None: nothing recorded); `day_starts`: local midnights to tick."""
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    step = span / columns

    def col(at: datetime) -> float:
        return min(max((at - start).total_seconds() / step, 0.0), float(columns))

    levels = [UNKNOWN] * columns

    def paint(a: datetime, b: datetime, level: int) -> None:
        if level == UNKNOWN or b <= start or a >= now:
            return
        first, last = int(col(a)), min(columns, max(int(col(a)) + 1, int(-(-col(b) // 1))))
        for i in range(first, last):
            if levels[i] < level:
                levels[i] = level

    state = _apply(None, before) if before else None
    since = start
    for at, kind in events:
        paint(since, at, _level(state))
        state, since = _apply(state, kind), max(since, at)
    paint(since, now, _level(state))

    strip = Strip(start=start, end=now)
    for item in restarts:
        paint(item.start, min(item.end, now), RESTARTING)
        if start <= item.start <= now:
            strip.marks.append(
                Mark(col(item.start), item.outcome or "pending", item.start, item.text)
            )

    run_start = 0
    for i in range(1, columns + 1):
        if i == columns or levels[i] != levels[run_start]:
            strip.segments.append(
                Segment(
                    x=run_start,
                    width=i - run_start,
                    kind=KINDS[levels[run_start]],
                    start=start + timedelta(seconds=run_start * step),
                    end=start + timedelta(seconds=i * step),
                )
            )
            run_start = i
    for kind in KINDS:
        count = levels.count(KINDS.index(kind))
        if count:
            strip.shares[kind] = round(100 * count / columns)
    # Day ticks, but none so near an end that its label would be cut off.
    edge = columns * 0.025
    strip.ticks = [Tick(col(day), day) for day in day_starts if edge < col(day) < columns - edge]
    return strip
