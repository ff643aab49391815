"""The load generator: many simulated OCPP 1.6 chargers in one asyncio process.

Built on our simulator library (``ocpp_gateway.simulator``), run as its own process so
its CPU is measured apart from the central system it drives (our gateway or the bare
reference). No Django: it only speaks OCPP over websockets.

    python -m benchmarks.loadgen --url ws://127.0.0.1:9000/ocpp --prefix BENCH- \\
        --first 1 --count 5000

Driven like ``bare_csms``: one command per line on stdin, one JSON line on stdout each.

    connect K [timeout]   start the next K chargers (in chunks that each wait until
                          booted), answer when all started chargers are booted
    stats                 counts over the fleet, CPU seconds and RSS of this process
    heartbeats [timeout]  wait until every charger has sent a Heartbeat since `connect`
    mark                  remember every charger's boot count (before a restart)
    rebooted [timeout]    wait until every charger booted again since `mark`; answers the
                          wall-clock time the last one did
    storm [timeout]       every charger reboots at once and comes straight back; answers
                          when all have booted again, with refused handshakes counted
    blast SECONDS         every charger sends Heartbeat and StatusNotification (status
                          alternating, so it is a change to record) back to back
    quit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import ssl
import sys
import time
from pathlib import Path

import psutil
from ocpp.v16 import call as call16

from benchmarks.procs import raise_nofile_limit
from ocpp_gateway.simulator import SimulatedCharger, client_ssl_context

log = logging.getLogger("benchmarks.loadgen")


_shared_tls: dict[str, ssl.SSLContext] = {}


def _password(template: str | None, charge_point_id: str) -> str | None:
    """The charger's OCPP password: `template` with `{id}` replaced by its id."""
    return template.replace("{id}", charge_point_id) if template else template


def _tls(args, charge_point_id: str) -> ssl.SSLContext | None:
    """None for ws://; one shared context, or the charger's own certificate (profile 3)."""
    if not args.url.startswith("wss://"):
        return None
    if args.profile >= 3:
        folder = Path(args.cert_dir)
        cert, key = folder / f"{charge_point_id}.crt", folder / f"{charge_point_id}.key"
        return client_ssl_context(args.tls_ca, cert, key)
    if "shared" not in _shared_tls:
        _shared_tls["shared"] = client_ssl_context(args.tls_ca)
    return _shared_tls["shared"]


class LoadGenerator:
    def __init__(self, args):
        self.args = args
        width = args.width
        self.chargers = [
            SimulatedCharger(
                f"{args.prefix}{number:0{width}d}",
                args.url,
                ocpp_version="1.6",
                reboot_seconds=args.reboot_seconds,
                heartbeat_seconds=args.heartbeat_seconds,
                backoff_base=args.backoff_base,
                backoff_cap=args.backoff_cap,
                call_timeout=args.call_timeout,
                rng=random.Random(number),
                password=_password(args.password, f"{args.prefix}{number:0{width}d}"),
                security_profile=args.profile,
                ssl_context=_tls(args, f"{args.prefix}{number:0{width}d}"),
            )
            for number in range(args.first, args.first + args.count)
        ]
        self.started = 0
        self.tasks: list[asyncio.Task] = []
        self.heartbeats_at_connect: dict[str, int] = {}
        self.marked_boots: dict[str, int] = {}
        self.process = psutil.Process()

    # -- helpers -------------------------------------------------------------------------
    def _running(self) -> list[SimulatedCharger]:
        return self.chargers[: self.started]

    def _booted(self, charger: SimulatedCharger) -> bool:
        return charger.connected and charger.stats.boots >= 1

    async def _wait(self, predicate, timeout: float, interval: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(interval)
        return True

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    # -- commands ------------------------------------------------------------------------
    async def connect(self, count: str, timeout: str = "300") -> dict:
        target = min(len(self.chargers), self.started + int(count))
        began = time.perf_counter()
        deadline = time.monotonic() + float(timeout)
        while self.started < target:
            chunk = self.chargers[self.started : min(target, self.started + self.args.chunk)]
            for charger in chunk:
                self.tasks.append(asyncio.create_task(charger.run()))
            self.started += len(chunk)
            await self._wait(
                lambda chunk=chunk: all(self._booted(c) for c in chunk),
                max(0.0, deadline - time.monotonic()),
            )
        running = self._running()
        await self._wait(
            lambda: all(self._booted(c) for c in running), max(0.0, deadline - time.monotonic())
        )
        for charger in running:
            self.heartbeats_at_connect.setdefault(charger.id, charger.stats.heartbeats)
        return {
            "started": len(running),
            "booted": sum(1 for c in running if self._booted(c)),
            "seconds": time.perf_counter() - began,
            "handshake_failures": sum(c.stats.handshake_failures for c in running),
        }

    async def connected(self) -> dict:
        """The charge point ids whose socket is open now."""
        return {"ids": [c.id for c in self._running() if c.connected]}

    async def stats(self) -> dict:
        running = self._running()
        return {
            "started": len(running),
            "connected": sum(1 for c in running if c.connected),
            "booted": sum(1 for c in running if self._booted(c)),
            "boots": sum(c.stats.boots for c in running),
            "connects": sum(c.stats.connects for c in running),
            "handshake_failures": sum(c.stats.handshake_failures for c in running),
            "heartbeats": sum(c.stats.heartbeats for c in running),
            "resets": sum(c.stats.resets for c in running),
            "cpu": self._cpu(),
            "rss": self.process.memory_info().rss,
        }

    async def heartbeats(self, timeout: str = "120") -> dict:
        running = self._running()
        began = time.perf_counter()

        def beaten(c):
            return c.stats.heartbeats > self.heartbeats_at_connect.get(c.id, 0)

        await self._wait(lambda: all(beaten(c) for c in running), float(timeout), 0.2)
        return {
            "with_heartbeat": sum(1 for c in running if beaten(c)),
            "connected": sum(1 for c in running if c.connected),
            "seconds": time.perf_counter() - began,
        }

    async def mark(self) -> dict:
        self.marked_boots = {c.id: c.stats.boots for c in self._running()}
        return {"marked": len(self.marked_boots), "at": time.time()}

    async def rebooted(self, timeout: str = "120") -> dict:
        running = self._running()
        last = {"at": None}

        def back(c):
            return c.connected and c.stats.boots > self.marked_boots.get(c.id, 0)

        def all_back():
            done = all(back(c) for c in running)
            if done:
                last["at"] = time.time()
            return done

        await self._wait(all_back, float(timeout), 0.01)
        return {
            "back": sum(1 for c in running if back(c)),
            "total": len(running),
            "resets": sum(c.stats.resets for c in running),
            "all_back_at": last["at"],
        }

    async def storm(self, timeout: str = "60") -> dict:
        running = [c for c in self._running() if c.connected]
        failures_before = sum(c.stats.handshake_failures for c in running)
        await self.mark()
        for charger in running:
            charger.reboot_seconds = 0.0  # straight back, all at once
        began = time.perf_counter()
        at = time.time()
        for charger in running:
            charger.reboot()
        answer = await self.rebooted(timeout)
        answer.update(
            started_at=at,
            seconds=(answer["all_back_at"] - at) if answer["all_back_at"] else None,
            wall=time.perf_counter() - began,
            refused=sum(c.stats.handshake_failures for c in running) - failures_before,
            dropped=len(running),
        )
        for charger in running:
            charger.reboot_seconds = self.args.reboot_seconds
        return answer

    async def blast(self, seconds: str = "10") -> dict:
        loop = asyncio.get_running_loop()
        running = [c for c in self._running() if c.connected]
        counts = {"messages": 0, "errors": 0}
        stop_at = loop.time() + float(seconds)

        async def one(charger: SimulatedCharger, words) -> None:
            while loop.time() < stop_at:
                try:
                    await charger.call(call16.Heartbeat(), skip_schema_validation=True)
                    counts["messages"] += 1
                    await charger.call(
                        call16.StatusNotification(
                            connector_id=1, error_code="NoError", status=next(words)
                        ),
                        skip_schema_validation=True,
                    )
                    counts["messages"] += 1
                except Exception:  # a closed socket or a late answer: count it, go on
                    counts["errors"] += 1
                    await asyncio.sleep(0.1)

        cpu = self._cpu()
        began = time.perf_counter()
        await asyncio.gather(
            *(one(c, itertools.cycle(("Preparing", "Available"))) for c in running)
        )
        return {
            "chargers": len(running),
            "messages": counts["messages"],
            "errors": counts["errors"],
            "seconds": time.perf_counter() - began,
            "cpu": self._cpu() - cpu,
        }


async def control_loop(generator: LoadGenerator) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    commands = {
        "connect": generator.connect,
        "stats": generator.stats,
        "connected": generator.connected,
        "heartbeats": generator.heartbeats,
        "mark": generator.mark,
        "rebooted": generator.rebooted,
        "storm": generator.storm,
        "blast": generator.blast,
    }
    while line := (await reader.readline()).decode().strip():
        command, *args = line.split()
        if command == "quit":
            break
        handler = commands.get(command)
        try:
            answer = await handler(*args) if handler else {"error": f"unknown {command}"}
        except Exception as exc:  # report it to the harness instead of dying silently
            log.exception("%s failed", command)
            answer = {"error": f"{command}: {exc!r}"}
        print(json.dumps(answer), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://host:port/ocpp")
    parser.add_argument("--prefix", default="BENCH-")
    parser.add_argument("--width", type=int, default=5)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--chunk", type=int, default=250, help="chargers started at a time")
    parser.add_argument("--reboot-seconds", type=float, default=3.0)
    parser.add_argument("--heartbeat-seconds", type=float, default=60.0)
    parser.add_argument("--backoff-base", type=float, default=1.0)
    parser.add_argument("--backoff-cap", type=float, default=10.0)
    parser.add_argument("--call-timeout", type=float, default=30.0)
    parser.add_argument(
        "--password",
        default=None,
        help="OCPP password of every charger; '{id}' in it stands for the charger's id "
        "(a password of its own per charger)",
    )
    parser.add_argument("--profile", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--tls-ca", default=None, help="the CA of a wss:// --url")
    parser.add_argument("--cert-dir", default=None, help="<id>.crt/<id>.key (profile 3)")
    args = parser.parse_args()
    raise_nofile_limit()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    generator = LoadGenerator(args)
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    try:
        await control_loop(generator)
    finally:
        # The harness is done with us: leave without a 10,000-socket goodbye.
        sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
