"""What the scenarios share: waiting for a condition and counting what PostgreSQL recorded."""

from __future__ import annotations

import time

from benchmarks import fleet
from benchmarks.harness import Bench
from chargers.models import Charger


def reset_state(bench: Bench) -> None:
    """Every charger offline and never seen, no restarts under way, no routes or queued
    commands in Redis."""
    fleet.reset_state(bench.redis_url)


def wait(predicate, timeout: float, interval: float = 0.05):
    """Poll until predicate() is truthy; return (value, wall-clock time it became true)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value, time.time()
        time.sleep(interval)


def recorded(ids_prefix_range: tuple[int, int], **filters) -> int:
    """How many of the bench chargers numbered first…last match `filters` in PostgreSQL."""
    first, last = ids_prefix_range
    return Charger.objects.filter(
        charge_point_id__gte=fleet.charge_point_id(first),
        charge_point_id__lte=fleet.charge_point_id(last),
        **filters,
    ).count()
