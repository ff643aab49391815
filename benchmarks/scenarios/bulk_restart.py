"""Scenario 2: a bulk restart through the real path (the OKAY view, Celery, Redis and the
gateway) beside the bare reference's one asyncio.gather of Reset calls."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psutil
import redis
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from benchmarks.fleet import ADMIN, charge_point_id
from benchmarks.harness import Bench
from benchmarks.procs import python
from benchmarks.report import Figure, ratio
from benchmarks.scenarios.common import recorded, reset_state, wait
from chargers.models import Charger
from config.celery import app
from restarts.models import RestartJob
from restarts.waves import RELEASE_PENDING

REBOOT_SECONDS = 2.0  # R: how long a simulated charger stays away after accepting a Reset
ANSWERED = ("accepted", "scheduled", "done", "rejected")


def restart(bench: Bench) -> list[Figure]:
    n = bench.n(1000)
    reset_state(bench)
    ours = _restart_ours(bench, n)
    bench.stop_all()
    reset_state(bench)
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
HTMX = {"HTTP_HX_REQUEST": "true"}


def _restart_ours(bench: Bench, n: int) -> dict:
    gateway, url = bench.start_gateway("restart-gateway")
    (gen,) = bench.start_loadgens("restart-loadgen-gateway", url, n, reboot_seconds=REBOOT_SECONDS)
    gen.ask(f"connect {n}")
    wait(lambda: recorded((1, n), is_connected=True, last_boot_at__isnull=False) == n, 30)
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
    # As an operator gets there: the Opladere page, then the window for the selection;
    # so the POST is timed on a web process that has served a page (as a running
    # server has), not on its first request (templates, URLs, translations loading).
    window = (reverse("restarts:window"), {"charger": ids}, HTMX)
    for url, params, headers in ((reverse("chargers:list"), {}, {}), window):
        answer = client.get(url, params, **headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {url} answered {answer.status_code}")
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

    answered, answered_at = wait(lambda: jobs.filter(state__in=ANSWERED).count() == n, 60)
    done, done_at = wait(lambda: jobs.filter(state="done").count() == n, 60)
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
    return charge_point_id(number)


def _aware(epoch: float):
    return datetime.fromtimestamp(epoch, UTC)


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _purge_celery(redis_url: str) -> None:
    """No task left from an earlier scenario, nor its mark that a wave release is already
    on its way: kept while its task was purged, it held back every release of the next
    scenario until it expired (no beat runs here to release them anyway)."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(
            "restarts", "celery", "unacked", "unacked_index", "unacked_mutex", RELEASE_PENDING
        )
    finally:
        client.close()


def _wait_worker(worker, redis_url: str, timeout: float = 60) -> None:
    """Ready when the worker answers a ping over the broker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"worker exited: {worker.tail()}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"worker not ready within {timeout:g}s: {worker.tail()}")
