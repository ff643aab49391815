"""Scenario 5: server time and SQL queries of the pages over a big fleet (Django test
client, PostgreSQL), the query counts beside those over a small fleet."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks import fleet as bench_fleet
from benchmarks.harness import Bench
from benchmarks.report import Figure
from chargers.models import Charger

PAGE_TARGETS_MS = {"page": 80, "window": 100, "status": 40}


def pages(bench: Bench) -> list[Figure]:
    n = bench.n(5000)
    selected = bench.n(500)
    restarting = bench.n(1000)
    small = bench.n(50)
    bench_fleet.show_page_fleet()
    bench_fleet.restarting(restarting, small_share=0.2)
    bench_fleet.settle_database()
    users = get_user_model().objects
    big_client, small_client = Client(), Client()
    big_client.force_login(users.get(username=bench_fleet.ADMIN))
    small_client.force_login(users.get(username=bench_fleet.SMALL_ADMIN))
    big_ids = list(
        Charger.objects.filter(group__name__startswith="Site")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    small_ids = list(
        Charger.objects.filter(group__name="Small").order_by("pk").values_list("pk", flat=True)
    )
    listing = reverse("chargers:list")
    window = reverse("restarts:window")
    htmx = {"HTTP_HX_REQUEST": "true"}
    # The window for chargers that are not restarting: the ones after the restarting ones.
    big_window = {"charger": big_ids[restarting : restarting + selected]}
    small_window = {"charger": small_ids[small // 5 :]}
    cases = [
        ("Opladere page, first page", "page", listing, {}, {}, {}),
        (
            "Opladere page, filtered (search + connected)",
            "page",
            listing,
            {"q": "charger 0", "status": "connected", "sort": "-seen"},
            {"q": "charger 0", "status": "connected", "sort": "-seen"},
            {},
        ),
        (
            f"confirmation window, {selected} selected",
            "window",
            window,
            big_window,
            small_window,
            htmx,
        ),
        (
            f"status request (rows), {restarting} restarting",
            "status",
            listing,
            {},
            {},
            htmx,
        ),
    ]
    repeat = max(10, round(40 * bench.scale))
    figures = []
    for title, kind, url, big_params, small_params, headers in cases:
        timings, queries, size = _time_requests(big_client, url, big_params, headers, repeat)
        _, small_queries, _ = _time_requests(small_client, url, small_params, headers, 2)
        median = _percentile(timings, 50)
        target = PAGE_TARGETS_MS[kind]
        figures.append(
            Figure(
                f"{title}: median server time",
                "ms",
                median,
                None,
                None,
                f"median < {target} ms",
                median < target,
                "pages",
                bench.scale,
                {
                    "p95_ms": _percentile(timings, 95),
                    "requests": repeat,
                    "queries": queries,
                    "bytes": size,
                    "visible_chargers": n,
                },
            )
        )
        figures.append(
            Figure(
                f"{title}: SQL queries",
                "queries",
                queries,
                None,
                None,
                f"same as with {small} chargers ({small_queries})",
                queries <= small_queries,
                "pages",
                bench.scale,
                {"small_fleet": small, "small_fleet_queries": small_queries},
            )
        )
    return figures


def _time_requests(client, url, params, headers, repeat):
    for _ in range(3):  # warm: templates, translations, the connection, PostgreSQL's cache
        response = client.get(url, params, **headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url, params, **headers)
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        client.get(url, params, **headers)
        timings.append((time.perf_counter() - began) * 1000)
    return timings, len(executed), len(response.content)


def _percentile(values, pct):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
