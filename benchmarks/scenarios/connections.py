"""Scenarios 1, 4 and 3: chargers holding connections, the messages they send, and a
reconnect storm; each side (our gateway, the bare reference) measured in turn."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime

import redis
from django.utils import timezone

from benchmarks import fleet as bench_fleet
from benchmarks.harness import Bench
from benchmarks.report import Figure, ratio
from benchmarks.scenarios.common import recorded, reset_state, wait
from chargers import credentials
from chargers.models import Charger
from ocpp_gateway import registry

HEARTBEAT_FULL = 20.0  # seconds between heartbeats in the fleet scenario at full scale


# -- 1 and 4: connections held, then message throughput on them ----------------------------
def fleet(bench: Bench) -> list[Figure]:
    n = bench.n(10_000)
    heartbeat = max(5.0, round(HEARTBEAT_FULL * bench.scale))
    blast_seconds = max(4.0, round(10 * bench.scale))
    sides = {}
    for side in ("gateway", "bare"):
        reset_state(bench)
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
        held, _ = wait(
            lambda: recorded((1, n), is_connected=True, last_boot_at__isnull=False) == n, 15
        )
        result["held"] = recorded((1, n), is_connected=True, last_boot_at__isnull=False)
    else:
        stats = server.ask("stats")
        result["held"] = min(stats["connected"], stats["booted"])
    result["rss_after"] = server.rss()
    result["rss_growth"] = result["rss_after"] - result["rss_before"]
    result["measured"] = n - warm
    result["hold_cpu"] = server.cpu() - cpu
    result["hold_loadgen_cpu"] = sum(g.cpu() for g in gens) - loadgen_cpu

    # Scenario 4 on the same sockets: every charger sends back to back.
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
            seen = recorded((1, n), last_seen_at__gte=blast_began)
            status = recorded((1, n), last_status_at__gte=blast_began)
            return (seen, status) if seen == status == n else None

        counts, _ = wait(written, 15, 0.2)
        result["written"] = counts is not None
        result["written_counts"] = {
            "presence": recorded((1, n), last_seen_at__gte=blast_began),
            "status": recorded((1, n), last_status_at__gte=blast_began),
        }
    else:
        result["written"] = True
        result["written_counts"] = {}
    return result


def _pending_answers(ws_url: str) -> int:
    """Pending answers a gateway has given so far (its /healthz); 0 for the bare one."""
    http = ws_url.replace("wss://", "https://").replace("ws://", "http://")
    try:
        with urllib.request.urlopen(http.removesuffix("/ocpp") + "/healthz", timeout=5) as r:
            return int(json.loads(r.read()).get("pacing", {}).get("pending") or 0)
    except (OSError, ValueError):
        return 0


def _routes(redis_url: str) -> int:
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
        reset_state(bench)
        sides[side] = storm_side(bench, side, n)
        bench.stop_all()
    # The same storm with every charger presenting a password of its own, against a
    # freshly started gateway (no verified password cached).
    reset_state(bench)
    _set_passwords(n)
    try:
        passworded = storm_side(bench, "gateway", n, password=PASSWORD_TEMPLATE)
    finally:
        bench.stop_all()
        _set_passwords(n, clear=True)
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
                "boots_answered_pending": ours.get("pending"),
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
        _passworded_figure(bench, n, passworded, bare),
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


PASSWORD_TEMPLATE = "bench-{id}-7Hq2xV9pLm4kR8sT"  # 20+ characters, each charger its own


def _set_passwords(n: int, *, clear: bool = False) -> None:
    """Bench chargers 1…n: each its own OCPP password (stored as the portal stores one,
    keyed HMAC), or none again with `clear`."""
    chargers = list(
        Charger.objects.filter(
            charge_point_id__gte=bench_fleet.charge_point_id(1),
            charge_point_id__lte=bench_fleet.charge_point_id(n),
        ).only("pk", "charge_point_id")
    )
    for charger in chargers:
        charger.password_hash = (
            ""
            if clear
            else credentials.make(PASSWORD_TEMPLATE.replace("{id}", charger.charge_point_id))
        )
    Charger.objects.bulk_update(chargers, ["password_hash"], batch_size=1000)


def _passworded_figure(bench: Bench, n: int, ours: dict, bare: dict) -> Figure:
    seconds = ours["recorded_seconds"]
    within = ratio(seconds, bare["charger_seconds"])
    return Figure(
        "reconnect storm with passwords: all back and booted, recorded",
        "s",
        seconds,
        bare["charger_seconds"],
        within,
        f"all {n}, each with its own password, gateway freshly started: < 5 s and "
        "≤ 3× the bare storm without passwords",
        seconds is not None
        and seconds < 5
        and within is not None
        and within <= 3
        and ours["back"] == ours["routes"] == n
        and ours["refused"] == 0,
        "storm",
        bench.scale,
        {
            "chargers": n,
            "back": ours["back"],
            "routes_for_commands": ours["routes"],
            "refused": ours["refused"],
            "boots_answered_pending": ours.get("pending"),
            "seconds_as_chargers_saw_it": ours["charger_seconds"],
            "cpu_seconds": {"gateway": ours["cpu"], "load generator": ours["loadgen_cpu"]},
        },
    )


def storm_side(bench: Bench, side: str, n: int, *, tls=None, **loadgen_options) -> dict:
    """One side of a reconnect storm; with `tls` (benchmarks.tls.BenchPki) over wss://,
    the load generator's chargers configured by `loadgen_options` (profile, password…)."""
    if side == "gateway":
        server, url = bench.start_gateway("storm-gateway", tls=tls)
    else:
        server, url = bench.start_bare("storm-bare", tls=tls)
    (gen,) = bench.start_loadgens(f"storm-loadgen-{side}", url, n, **loadgen_options)
    gen.ask(f"connect {n}")
    if side == "gateway":
        wait(lambda: recorded((1, n), is_connected=True, last_boot_at__isnull=False) == n, 15)
    time.sleep(0.5)
    cpu, loadgen_cpu = server.cpu(), gen.cpu()
    pending_before = _pending_answers(url)
    dropped_at = time.time()
    gen.send("storm 60")
    result: dict = {"recorded_seconds": None}
    if side == "gateway":
        since = datetime.fromtimestamp(dropped_at, UTC)
        done, at = wait(
            lambda: recorded((1, n), is_connected=True, last_boot_at__gte=since) == n, 60
        )
        if done:
            result["recorded_seconds"] = at - dropped_at
    answer = gen.read(120)
    if side == "gateway":
        # Reachable too: every charger has its route for commands in Redis.
        routes, _ = wait(lambda: _routes(bench.redis_url) == n, 10)
        result["routes"] = _routes(bench.redis_url)
        # Boots the gateway answered Pending (pacing.py) during the storm: each such
        # charger waited at least the interval before it could boot.
        result["pending"] = _pending_answers(url) - pending_before
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
