"""Scenarios 7 and 8: past one gateway process.

7. two_gateways: two gateway processes on this machine, 5,000 chargers each (as a load
   balancer would spread them): all held? Then a bulk restart of 1,000 chargers, half on
   each, through the OKAY view, Celery and Redis: POST to all jobs done, beside the
   single-gateway figure of the `restart` scenario in the same run (run.py compares).
8. overload: one gateway, a reconnect storm of 2,000 chargers while a bulk restart of
   1,000 others runs. The figure is the jobs that ended other than done for chargers
   whose socket was open (every simulated charger answers its Reset and comes back, so
   any such job is a verdict the gateway's load, not the charger, produced): must be 0.
"""

from __future__ import annotations

import json
import time
import urllib.request

from django.db.models import Count
from django.test import Client
from django.urls import reverse

from benchmarks import fleet as bench_fleet
from benchmarks.harness import Bench
from benchmarks.procs import python
from benchmarks.report import Figure
from benchmarks.scenarios.bulk_restart import (
    REBOOT_SECONDS,
    WORKER_ARGS,
    _aware,
    _purge_celery,
    _wait_worker,
)
from benchmarks.scenarios.common import recorded, reset_state, wait
from chargers.models import Charger
from restarts.models import RestartJob

DONE_ROW = "bulk restart: POST to all jobs done"
TWO_DONE_ROW = "two gateways: bulk restart POST to all jobs done"


def two_gateways(bench: Bench) -> list[Figure]:
    each = bench.n(5000)
    restart = min(bench.n(1000), 2 * each)
    reset_state(bench)
    gw_a, url_a = bench.start_gateway("two-gateway-a")
    gw_b, url_b = bench.start_gateway("two-gateway-b")
    options = {"reboot_seconds": REBOOT_SECONDS}
    gens = bench.start_loadgens("two-loadgen-a", url_a, each, **options)
    gens += bench.start_loadgens("two-loadgen-b", url_b, each, first=each + 1, **options)
    began = time.perf_counter()
    Bench.ask_all(gens, f"connect {each}")
    held, _ = wait(
        lambda: recorded((1, 2 * each), is_connected=True, last_boot_at__isnull=False) == 2 * each,
        60,
    )
    connect_seconds = time.perf_counter() - began
    held_count = recorded((1, 2 * each), is_connected=True, last_boot_at__isnull=False)
    # Half of the restart on each gateway.
    numbers = list(range(1, restart // 2 + 1)) + list(
        range(each + 1, each + restart - restart // 2 + 1)
    )
    result = _bulk_restart(bench, numbers, gens)
    figures = [
        Figure(
            "two gateways: connections held",
            "chargers",
            held_count,
            None,
            None,
            f"all 2 × {each} connected and booted",
            held_count == 2 * each,
            "two_gateways",
            bench.scale,
            {
                "per_gateway": each,
                "connect_seconds": connect_seconds,
                "cpu_seconds": {"gateway a": gw_a.cpu(), "gateway b": gw_b.cpu()},
            },
        ),
        Figure(
            TWO_DONE_ROW,
            "s",
            result["done_seconds"],
            None,
            None,
            f"≤ 1.2× '{DONE_ROW}' of the same run",
            # run.py sets it against the single-gateway row; alone: ≤ R + 3 s.
            result["done_seconds"] is not None and result["done_seconds"] <= REBOOT_SECONDS + 3,
            "two_gateways",
            bench.scale,
            {
                "chargers": len(numbers),
                "per_gateway": len(numbers) // 2,
                **{k: v for k, v in result.items() if k != "job_ids"},
            },
        ),
    ]
    bench.stop_all()
    return figures


def overload(bench: Bench) -> list[Figure]:
    restart = bench.n(1000)
    storm = bench.n(2000)
    reset_state(bench)
    gateway, url = bench.start_gateway("overload-gateway")
    options = {"reboot_seconds": REBOOT_SECONDS}
    restart_gens = bench.start_loadgens("overload-restarted", url, restart, **options)
    storm_gens = bench.start_loadgens("overload-storm", url, storm, first=restart + 1, **options)
    for gens, size in ((restart_gens, restart), (storm_gens, storm)):
        Bench.ask_all(gens, f"connect {min(size, 5000)}")
    total = restart + storm
    wait(lambda: recorded((1, total), is_connected=True, last_boot_at__isnull=False) == total, 60)
    cpu = gateway.cpu()
    for gen in storm_gens:
        gen.send("storm 120")  # every storm charger drops and comes straight back, now
    result = _bulk_restart(bench, list(range(1, restart + 1)), restart_gens)
    storms = [gen.read(180) for gen in storm_gens]
    open_ids = {cp for gen in restart_gens for cp in gen.ask("connected")["ids"]}
    jobs = RestartJob.objects.filter(pk__in=result["job_ids"]).select_related("charger")
    unfinished = set(RestartJob.State.unfinished())
    wrong = [
        (job.charger.charge_point_id, job.state, job.detail)
        for job in jobs
        if job.state != "done"
        and job.state not in unfinished
        and job.charger.charge_point_id in open_ids
    ]
    gateway_cpu = gateway.cpu() - cpu
    pacing = _health(url).get("pacing", {})
    bench.stop_all()
    return [
        Figure(
            "overload: jobs ended for chargers whose socket was open",
            "jobs",
            len(wrong),
            None,
            None,
            f"0 (a storm of {storm} while {restart} restart)",
            len(wrong) == 0 and result["done_seconds"] is not None,
            "overload",
            bench.scale,
            {
                "restarted": restart,
                "storm": storm,
                "examples": wrong[:10],
                "storm_back": sum(s.get("back", 0) for s in storms),
                "storm_seconds": max((s.get("seconds") or 0) for s in storms),
                "gateway_cpu": gateway_cpu,
                "boots_answered_pending": pacing.get("pending"),
                **{k: v for k, v in result.items() if k != "job_ids"},
            },
        )
    ]


def _health(ws_url: str) -> dict:
    """The gateway's /healthz (its pacing counters), {} if it does not answer."""
    http = ws_url.replace("ws://", "http://").removesuffix("/ocpp") + "/healthz"
    try:
        with urllib.request.urlopen(http, timeout=5) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return {}


def _bulk_restart(bench: Bench, numbers: list[int], gens) -> dict:
    """OKAY for the chargers BENCH-<number>, as the root admin; a Celery worker sends.
    Waits for every job to end (done or not)."""
    _purge_celery(bench.redis_url)
    worker = bench.spawn(
        "scale-worker",
        python("-m", "celery", "-A", "config", "worker", "-Q", "restarts,celery")
        + ["--loglevel", "WARNING", "--without-gossip", "--without-mingle", *WORKER_ARGS],
    )
    _wait_worker(worker, bench.redis_url)
    ids = list(
        Charger.objects.filter(
            charge_point_id__in=[bench_fleet.charge_point_id(n) for n in numbers]
        ).values_list("pk", flat=True)
    )
    client = Client()
    client.force_login(bench_fleet.root_admin())
    for gen in gens:
        gen.ask("mark")
    started = time.time()
    response = client.post(
        reverse("restarts:confirm"),
        {"charger": ids, "mode": "default", "idempotency_key": f"scale-{started}"},
    )
    post_seconds = time.time() - started
    if response.status_code not in (200, 302):
        raise RuntimeError(f"OKAY answered {response.status_code}: {response.content[:300]!r}")
    jobs = RestartJob.objects.filter(charger_id__in=ids, created_at__gte=_aware(started - 1))
    done, done_at = wait(lambda: jobs.filter(state="done").count() == len(ids), 90)
    wait(lambda: not jobs.filter(state__in=RestartJob.State.unfinished()).exists(), 60)
    return {
        "post_seconds": post_seconds,
        "done_seconds": (done_at - started) if done else None,
        "states": dict(jobs.values_list("state").annotate(n=Count("pk"))),
        "job_ids": list(jobs.values_list("pk", flat=True)),
    }
