"""The scenarios of `make bench`; each returns its figures (see run.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from benchmarks.procs import python
from benchmarks.report import Figure, ratio

if TYPE_CHECKING:
    from benchmarks.run import Bench

HEARTBEAT_FULL = 20.0  # seconds between heartbeats in the fleet scenario at full scale


def _wait(predicate, timeout: float, interval: float = 0.05):
    """Poll until predicate() is truthy; return (value, wall-clock time it became true)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value, time.time()
        time.sleep(interval)


def _recorded(ids_prefix_range: tuple[int, int], **filters) -> int:
    from benchmarks.fleet import charge_point_id
    from chargers.models import Charger

    first, last = ids_prefix_range
    return Charger.objects.filter(
        charge_point_id__gte=charge_point_id(first),
        charge_point_id__lte=charge_point_id(last),
        **filters,
    ).count()


# -- 1 and 4: connections held, then message throughput on them ----------------------------
def fleet(bench: Bench) -> list[Figure]:
    n = bench.n(10_000)
    heartbeat = max(5.0, round(HEARTBEAT_FULL * bench.scale))
    blast_seconds = max(4.0, round(10 * bench.scale))
    sides = {}
    for side in ("gateway", "bare"):
        bench.reset_state()
        sides[side] = _fleet_side(bench, side, n, heartbeat, blast_seconds)
        bench.stop_all()
    ours, bare = sides["gateway"], sides["bare"]

    per_conn = ours["rss_growth"] / ours["measured"] / 1024
    bare_per_conn = bare["rss_growth"] / bare["measured"] / 1024
    rate = ours["messages"] / ours["blast_seconds"]
    bare_rate = bare["messages"] / bare["blast_seconds"]
    cpu_msg = ours["blast_cpu"] / max(ours["messages"], 1) * 1e6
    bare_cpu_msg = bare["blast_cpu"] / max(bare["messages"], 1) * 1e6
    return [
        Figure(
            "connections held (connected and booted)",
            "chargers",
            ours["held"],
            bare["held"],
            ratio(ours["held"], bare["held"]),
            f"all {n} connected and booted",
            ours["held"] == n,
            "fleet",
            bench.scale,
            {
                "chargers": n,
                "heartbeat_seconds": heartbeat,
                "with_heartbeat": {
                    "gateway": ours["with_heartbeat"],
                    "bare": bare["with_heartbeat"],
                },
                "connect_seconds": {
                    "gateway": ours["connect_seconds"],
                    "bare": bare["connect_seconds"],
                },
                "handshake_failures": {
                    "gateway": ours["handshake_failures"],
                    "bare": bare["handshake_failures"],
                },
                "cpu_seconds": {
                    "gateway": ours["hold_cpu"],
                    "load generator (gateway)": ours["hold_loadgen_cpu"],
                    "bare": bare["hold_cpu"],
                    "load generator (bare)": bare["hold_loadgen_cpu"],
                },
            },
        ),
        Figure(
            "memory per connection (RSS growth / N)",
            "KiB",
            per_conn,
            bare_per_conn,
            ratio(per_conn, bare_per_conn),
            "within 1.5× bare",
            per_conn <= 1.5 * bare_per_conn,
            "fleet",
            bench.scale,
            {
                "measured_connections": ours["measured"],
                "rss_mib": {
                    "gateway": [ours["rss_before"] / 2**20, ours["rss_after"] / 2**20],
                    "bare": [bare["rss_before"] / 2**20, bare["rss_after"] / 2**20],
                },
                "note": "growth from 1% of the fleet connected (warm) to all of it",
            },
        ),
        Figure(
            "message throughput (Heartbeat + StatusNotification)",
            "msg/s",
            rate,
            bare_rate,
            ratio(rate, bare_rate),
            "at least 0.5× bare",
            rate >= 0.5 * bare_rate and ours["written"],
            "fleet",
            bench.scale,
            {
                "chargers": n,
                "seconds": blast_seconds,
                "messages": {"gateway": ours["messages"], "bare": bare["messages"]},
                "errors": {"gateway": ours["errors"], "bare": bare["errors"]},
                "cpu_us_per_message": {"gateway": cpu_msg, "bare": bare_cpu_msg},
                "cpu_per_message_ratio": ratio(cpu_msg, bare_cpu_msg),
                "presence_and_status_written": ours["written"],
                "written_counts": ours["written_counts"],
                "cpu_seconds": {
                    "gateway": ours["blast_cpu"],
                    "load generator (gateway)": ours["blast_loadgen_cpu"],
                    "bare": bare["blast_cpu"],
                    "load generator (bare)": bare["blast_loadgen_cpu"],
                },
            },
        ),
    ]


def _fleet_side(bench: Bench, side: str, n: int, heartbeat: float, blast_seconds: float) -> dict:
    if side == "gateway":
        server, url = bench.start_gateway("fleet-gateway", OCPP_HEARTBEAT_INTERVAL=int(heartbeat))
    else:
        server, url = bench.start_bare("fleet-bare")
    gens = bench.start_loadgens(f"fleet-loadgen-{side}", url, n, heartbeat_seconds=heartbeat)
    result: dict = {}

    # Warm both sides with 1% of the fleet, then measure the growth for the rest.
    warm = max(1, n // 100)
    gens[0].ask(f"connect {warm}")
    time.sleep(1.0)
    result["rss_before"] = server.rss()
    cpu, loadgen_cpu = server.cpu(), sum(g.cpu() for g in gens)
    began = time.perf_counter()
    for index, gen in enumerate(gens):
        gen.send(f"connect {gen.size - (warm if index == 0 else 0)}")
    connected = [gen.read() for gen in gens]
    result["connect_seconds"] = time.perf_counter() - began
    result["handshake_failures"] = sum(a["handshake_failures"] for a in connected)
    beats = bench.ask_all(gens, f"heartbeats {heartbeat * 3 + 30:.0f}")
    result["with_heartbeat"] = sum(a["with_heartbeat"] for a in beats)
    if side == "gateway":
        # Held = what the gateway recorded: connected, booted, in PostgreSQL.
        held, _ = _wait(
            lambda: _recorded((1, n), is_connected=True, last_boot_at__isnull=False) == n, 15
        )
        result["held"] = _recorded((1, n), is_connected=True, last_boot_at__isnull=False)
    else:
        stats = server.ask("stats")
        result["held"] = min(stats["connected"], stats["booted"])
    result["rss_after"] = server.rss()
    result["rss_growth"] = result["rss_after"] - result["rss_before"]
    result["measured"] = n - warm
    result["hold_cpu"] = server.cpu() - cpu
    result["hold_loadgen_cpu"] = sum(g.cpu() for g in gens) - loadgen_cpu

    # Scenario 4 on the same sockets: every charger sends back to back.
    from django.utils import timezone

    blast_began = timezone.now()
    cpu, loadgen_cpu = server.cpu(), sum(g.cpu() for g in gens)
    blasts = bench.ask_all(gens, f"blast {blast_seconds:g}")
    result["blast_cpu"] = server.cpu() - cpu
    result["blast_loadgen_cpu"] = sum(g.cpu() for g in gens) - loadgen_cpu
    result["messages"] = sum(a["messages"] for a in blasts)
    result["errors"] = sum(a["errors"] for a in blasts)
    result["blast_seconds"] = max(a["seconds"] for a in blasts)
    if side == "gateway":
        # Presence and status were written for every charger that sent (after a flush).
        def written():
            seen = _recorded((1, n), last_seen_at__gte=blast_began)
            status = _recorded((1, n), last_status_at__gte=blast_began)
            return (seen, status) if seen == status == n else None

        counts, _ = _wait(written, 15, 0.2)
        result["written"] = counts is not None
        result["written_counts"] = {
            "presence": _recorded((1, n), last_seen_at__gte=blast_began),
            "status": _recorded((1, n), last_status_at__gte=blast_began),
        }
    else:
        result["written"] = True
        result["written_counts"] = {}
    return result


def _routes(redis_url: str) -> int:
    import redis

    from ocpp_gateway import registry

    client = redis.Redis.from_url(redis_url)
    try:
        return client.hlen(registry.ROUTES)
    finally:
        client.close()


# -- 3: reconnect storm ------------------------------------------------------------------------
def storm(bench: Bench) -> list[Figure]:
    n = bench.n(1000)
    sides = {}
    for side in ("gateway", "bare"):
        bench.reset_state()
        sides[side] = _storm_side(bench, side, n)
        bench.stop_all()
    ours, bare = sides["gateway"], sides["bare"]
    seconds = ours["recorded_seconds"]
    return [
        Figure(
            "reconnect storm: all back and booted, recorded",
            "s",
            seconds,
            bare["charger_seconds"],
            ratio(seconds, bare["charger_seconds"]),
            f"all {n} reconnected and booted, none refused, within 5 s",
            seconds is not None
            and seconds <= 5
            and ours["back"] == ours["routes"] == n
            and ours["refused"] == 0,
            "storm",
            bench.scale,
            {
                "chargers": n,
                "back": {"gateway": ours["back"], "bare": bare["back"]},
                "routes_for_commands": ours["routes"],
                "refused": {"gateway": ours["refused"], "bare": bare["refused"]},
                "seconds_as_chargers_saw_it": {
                    "gateway": ours["charger_seconds"],
                    "bare": bare["charger_seconds"],
                },
                "cpu_seconds": {
                    "gateway": ours["cpu"],
                    "load generator (gateway)": ours["loadgen_cpu"],
                    "bare": bare["cpu"],
                    "load generator (bare)": bare["loadgen_cpu"],
                },
            },
        ),
        Figure(
            "reconnect storm: handshakes refused",
            "chargers",
            ours["refused"],
            bare["refused"],
            None,
            "none refused",
            ours["refused"] == 0,
            "storm",
            bench.scale,
            {},
        ),
    ]


def _storm_side(bench: Bench, side: str, n: int) -> dict:
    if side == "gateway":
        server, url = bench.start_gateway("storm-gateway")
    else:
        server, url = bench.start_bare("storm-bare")
    (gen,) = bench.start_loadgens(f"storm-loadgen-{side}", url, n)
    gen.ask(f"connect {n}")
    if side == "gateway":
        _wait(lambda: _recorded((1, n), is_connected=True, last_boot_at__isnull=False) == n, 15)
    time.sleep(0.5)
    cpu, loadgen_cpu = server.cpu(), gen.cpu()
    from datetime import UTC, datetime

    dropped_at = time.time()
    gen.send("storm 60")
    result: dict = {"recorded_seconds": None}
    if side == "gateway":
        since = datetime.fromtimestamp(dropped_at, UTC)
        done, at = _wait(
            lambda: _recorded((1, n), is_connected=True, last_boot_at__gte=since) == n, 60
        )
        if done:
            result["recorded_seconds"] = at - dropped_at
    answer = gen.read(120)
    if side == "gateway":
        # Reachable too: every charger has its route for commands in Redis.
        routes, _ = _wait(lambda: _routes(bench.redis_url) == n, 10)
        result["routes"] = _routes(bench.redis_url)
    else:
        result["routes"] = answer["back"]
    result.update(
        charger_seconds=answer["seconds"],
        back=answer["back"],
        refused=answer["refused"],
        cpu=server.cpu() - cpu,
        loadgen_cpu=gen.cpu() - loadgen_cpu,
    )
    return result


# -- 2: bulk restart through the real path ------------------------------------------------------
REBOOT_SECONDS = 2.0  # R: how long a simulated charger stays away after accepting a Reset
ANSWERED = ("accepted", "scheduled", "done", "rejected")


def restart(bench: Bench) -> list[Figure]:
    n = bench.n(1000)
    bench.reset_state()
    ours = _restart_ours(bench, n)
    bench.stop_all()
    bench.reset_state()
    bare = _restart_bare(bench, n)
    bench.stop_all()
    r = REBOOT_SECONDS
    answered, done = ours["answered_seconds"], ours["done_seconds"]
    cpu = {
        "gateway": ours["gateway_cpu"],
        "worker": ours["worker_cpu"],
        "web (harness process)": ours["web_cpu"],
        "load generator (gateway)": ours["loadgen_cpu"],
        "bare": bare["cpu"],
        "load generator (bare)": bare["loadgen_cpu"],
    }
    return [
        Figure(
            "bulk restart: POST to all CallResults recorded",
            "s",
            answered,
            bare["gather_seconds"],
            ratio(answered, bare["gather_seconds"]),
            "≤ 3 s and ≤ 4× bare",
            answered is not None and answered <= 3 and answered <= 4 * bare["gather_seconds"],
            "restart",
            bench.scale,
            {
                "chargers": n,
                "post_seconds": ours["post_seconds"],
                "jobs": ours["jobs"],
                "states": ours["states"],
                "worker": ours["worker"],
                "cpu_seconds": cpu,
            },
        ),
        Figure(
            "bulk restart: POST to all jobs done",
            "s",
            done,
            bare["back_seconds"],
            ratio(done, bare["back_seconds"]),
            f"≤ R + 3 s (R = {r:g} s, each charger away R to 1.2 R)",
            done is not None and done <= r + 3,
            "restart",
            bench.scale,
            {
                "reboot_seconds": r,
                "chargers_back_seconds": ours["back_seconds"],
                "resets_received": {"gateway": ours["resets"], "bare": bare["resets"]},
                "bare_accepted": bare["accepted"],
            },
        ),
    ]


WORKER_ARGS = ("--pool", "threads", "--concurrency", "32")


def _restart_ours(bench: Bench, n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from benchmarks.fleet import ADMIN
    from chargers.models import Charger
    from restarts.models import RestartJob

    gateway, url = bench.start_gateway("restart-gateway")
    (gen,) = bench.start_loadgens("restart-loadgen-gateway", url, n, reboot_seconds=REBOOT_SECONDS)
    gen.ask(f"connect {n}")
    _wait(lambda: _recorded((1, n), is_connected=True, last_boot_at__isnull=False) == n, 30)
    _purge_celery(bench.redis_url)
    worker_args = bench.args.worker.split() or list(WORKER_ARGS)
    worker = bench.spawn(
        "restart-worker",
        python("-m", "celery", "-A", "config", "worker", "-Q", "restarts,celery")
        + ["--loglevel", "WARNING", "--without-gossip", "--without-mingle", *worker_args],
    )
    _wait_worker(worker, bench.redis_url)
    bench.profile(worker)
    ids = list(
        Charger.objects.filter(
            charge_point_id__gte=_cp(1), charge_point_id__lte=_cp(n)
        ).values_list("pk", flat=True)
    )
    client = Client()
    client.force_login(get_user_model().objects.get(username=ADMIN))
    gen.ask("mark")
    cpu = {
        "gateway": gateway.cpu(),
        "worker": worker.cpu(),
        "loadgen": gen.cpu(),
        "web": _own_cpu(),
    }
    started = time.time()
    response = client.post(
        reverse("restarts:confirm"),
        {"charger": ids, "mode": "default", "idempotency_key": f"bench-{started}"},
    )
    post_seconds = time.time() - started
    web_cpu = _own_cpu() - cpu["web"]
    if response.status_code not in (200, 302):
        raise RuntimeError(f"OKAY answered {response.status_code}: {response.content[:300]!r}")
    jobs = RestartJob.objects.filter(charger_id__in=ids, created_at__gte=_aware(started - 1))

    answered, answered_at = _wait(lambda: jobs.filter(state__in=ANSWERED).count() == n, 60)
    done, done_at = _wait(lambda: jobs.filter(state="done").count() == n, 60)
    back = gen.ask("rebooted 30")
    states = dict(jobs.values_list("state").annotate(n=Count("pk")))
    return {
        "post_seconds": post_seconds,
        "answered_seconds": (answered_at - started) if answered else None,
        "done_seconds": (done_at - started) if done else None,
        "back_seconds": (back["all_back_at"] - started) if back["all_back_at"] else None,
        "jobs": jobs.count(),
        "states": states,
        "resets": back["resets"],
        "worker": " ".join(worker_args),
        "gateway_cpu": gateway.cpu() - cpu["gateway"],
        "worker_cpu": worker.cpu() - cpu["worker"],
        "loadgen_cpu": gen.cpu() - cpu["loadgen"],
        "web_cpu": web_cpu,
    }


def _restart_bare(bench: Bench, n: int) -> dict:
    server, url = bench.start_bare("restart-bare")
    (gen,) = bench.start_loadgens("restart-loadgen-bare", url, n, reboot_seconds=REBOOT_SECONDS)
    gen.ask(f"connect {n}")
    gen.ask("mark")
    cpu, loadgen_cpu = server.cpu(), gen.cpu()
    started = time.time()
    fanout = server.ask("reset Soft", timeout=120)
    back = gen.ask("rebooted 30")
    return {
        "gather_seconds": fanout["seconds"],
        "accepted": fanout["accepted"],
        "back_seconds": (back["all_back_at"] - started) if back["all_back_at"] else None,
        "resets": back["resets"],
        "cpu": server.cpu() - cpu,
        "loadgen_cpu": gen.cpu() - loadgen_cpu,
    }


def _cp(number: int) -> str:
    from benchmarks.fleet import charge_point_id

    return charge_point_id(number)


def _aware(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def _own_cpu() -> float:
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def _purge_celery(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.delete("restarts", "celery", "unacked", "unacked_index", "unacked_mutex")
    finally:
        client.close()


def _wait_worker(worker, redis_url: str, timeout: float = 60) -> None:
    """Ready when the worker answers a ping over the broker."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"worker exited: {worker.tail()}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"worker not ready within {timeout:g}s: {worker.tail()}")


# -- 5: pages -----------------------------------------------------------------------------------
PAGE_TARGETS_MS = {"page": 80, "window": 100, "status": 40}


def pages(bench: Bench) -> list[Figure]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from benchmarks import fleet as bench_fleet
    from chargers.models import Charger

    n = bench.n(5000)
    selected = bench.n(500)
    restarting = bench.n(1000)
    small = bench.n(50)
    bench_fleet.show_page_fleet()
    bench_fleet.restarting(restarting, small_share=0.2)
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
    from django.db import connection

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
