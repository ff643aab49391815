"""Scenario 6: "select all matching the filter" over 10,000 chargers: the confirmation
window (a summary per group and one page of the list) and OKAY (the filter plus removals,
decided again on the server; the jobs' fan-out continues in the background).
Django test client and PostgreSQL, as in the pages scenario."""

from __future__ import annotations

import time

import redis
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from benchmarks import fleet as bench_fleet
from benchmarks.harness import Bench
from benchmarks.report import Figure
from benchmarks.scenarios.pages import _percentile, _time_requests
from chargers.models import Charger
from restarts import waves
from restarts.models import RestartJob, RestartRequest

FILTER = {"q": "Bench charger"}  # every charger of "Bench Energi"
WINDOW_MS, WINDOW_BYTES, OKAY_S = 300, 200_000, 1.0


def matching(bench: Bench) -> list[Figure]:
    n = bench.n(10_000)
    client = Client()
    client.force_login(bench_fleet.root_admin())
    _all_online()
    window = reverse("restarts:window")
    params = {"scope": "filter", **FILTER}
    htmx = {"HTTP_HX_REQUEST": "true"}
    repeat = max(10, round(40 * bench.scale))
    timings, queries, size = _time_requests(client, window, params, htmx, repeat)
    median = _percentile(timings, 50)
    met = median < WINDOW_MS and size < WINDOW_BYTES
    figures = [
        Figure(
            f"confirmation window, all matching {n}: median server time",
            "ms",
            median,
            None,
            None,
            f"median < {WINDOW_MS} ms and < {WINDOW_BYTES // 1000} KB of HTML",
            met,
            "matching",
            bench.scale,
            {
                "p95_ms": _percentile(timings, 95),
                "requests": repeat,
                "queries": queries,
                "bytes": size,
                "matching": n,
            },
        )
    ]
    okay_times, started = [], 0
    for attempt in range(3):
        _clear_restarts(bench)
        began = time.perf_counter()
        response = client.post(
            reverse("restarts:confirm"),
            {**params, "exclude": [], "idempotency_key": f"bench-{attempt}", "mode": "default"},
            **htmx,
        )
        okay_times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"OKAY answered {response.status_code}")
        started = RestartJob.objects.count()
    _clear_restarts(bench)
    okay = _percentile(okay_times, 50)
    figures.append(
        Figure(
            f"OKAY, all matching {n}: POST to the answer",
            "s",
            okay,
            None,
            None,
            f"< {OKAY_S:g} s",
            okay < OKAY_S and started == n,
            "matching",
            bench.scale,
            {"runs_s": okay_times, "jobs_started": started, "matching": n},
        )
    )
    return figures


def _all_online() -> None:
    now = timezone.now()
    Charger.objects.filter(charge_point_id__startswith=bench_fleet.PREFIX).update(
        is_connected=True, connected_at=now, last_seen_at=now, session_active=False
    )


def _clear_restarts(bench: Bench) -> None:
    """No jobs and no queued send messages: no worker runs in this scenario."""
    RestartJob.objects.all().delete()
    RestartRequest.objects.all().delete()
    client = redis.Redis.from_url(bench.redis_url)
    try:
        client.delete("restarts", waves.RELEASE_PENDING)
    finally:
        client.close()
