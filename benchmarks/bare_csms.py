"""The floor we measure ourselves against: a bare OCPP 1.6 central system.

Written directly on `ocpp` + `websockets` with the same server options as our
gateway (no compression, small frames, pings), and nothing else: no database,
no Redis, no Django. It answers BootNotification, Heartbeat and
StatusNotification from memory and can fan a Reset out to every connected
charger with one `asyncio.gather`.

Run it as its own process so its memory and CPU can be read separately:

    python -m benchmarks.bare_csms --port 9100

and drive it with one command per line on stdin, each answered with one JSON
line on stdout:

    stats          -> {"connected": N, "booted": N, "messages": N, "cpu": s, "rss": bytes}
    reset [Soft]   -> {"sent": N, "answered": N, "accepted": N, "seconds": s}
    quit
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import ssl
import sys
import time
from datetime import UTC, datetime

import psutil
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.asyncio.server import serve

log = logging.getLogger("bare_csms")


class BareChargePoint(ChargePoint):
    server: BareServer

    @on(Action.boot_notification)
    async def on_boot(self, charge_point_vendor, charge_point_model, **kwargs):
        self.server.booted.add(self.id)
        self.server.messages += 1
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(),
            interval=60,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        self.server.messages += 1
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.status_notification)
    async def on_status(self, connector_id, error_code, status, **kwargs):
        self.server.messages += 1
        self.server.status[self.id] = status
        return call_result.StatusNotification()


class BareServer:
    def __init__(self, max_frame: int = 64 * 1024):
        self.max_frame = max_frame
        self.connected: dict[str, BareChargePoint] = {}
        self.booted: set[str] = set()
        self.status: dict[str, str] = {}
        self.messages = 0

    async def handler(self, websocket):
        cp_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
        cp = BareChargePoint(cp_id, websocket)
        cp.server = self
        self.connected[cp_id] = cp
        try:
            await cp.start()
        except Exception:  # the charger went away: that is all a bare server needs to know
            pass
        finally:
            if self.connected.get(cp_id) is cp:
                del self.connected[cp_id]

    def serve(self, host: str, port: int, ssl_context=None):
        return serve(
            self.handler,
            host,
            port,
            ssl=ssl_context,
            subprotocols=["ocpp1.6"],
            compression=None,
            max_size=self.max_frame,
            ping_interval=60,
            ping_timeout=60,
            backlog=4096,
        )

    async def reset_all(self, reset_type: str = "Soft", timeout: float = 30) -> dict:
        chargers = list(self.connected.values())
        started = time.perf_counter()

        async def one(cp):
            return await asyncio.wait_for(cp.call(call.Reset(type=reset_type)), timeout)

        results = await asyncio.gather(*(one(cp) for cp in chargers), return_exceptions=True)
        seconds = time.perf_counter() - started
        answered = [r for r in results if not isinstance(r, BaseException)]
        return {
            "sent": len(chargers),
            "answered": len(answered),
            "accepted": sum(1 for r in answered if r.status == "Accepted"),
            "seconds": seconds,
        }

    def stats(self) -> dict:
        proc = psutil.Process()
        cpu = proc.cpu_times()
        return {
            "connected": len(self.connected),
            "booted": len(self.booted),
            "messages": self.messages,
            "cpu": cpu.user + cpu.system,
            "rss": proc.memory_info().rss,
        }


async def control_loop(server: BareServer) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        command, *args = line.split()
        if command == "stats":
            answer = server.stats()
        elif command == "reset":
            answer = await server.reset_all(*(args or ["Soft"]))
        elif command == "quit":
            break
        else:
            answer = {"error": f"unknown command {command}"}
        print(json.dumps(answer), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tls-cert", default=None, help="serve wss:// with this chain")
    parser.add_argument("--tls-key", default=None)
    args = parser.parse_args()
    ssl_context = None
    if args.tls_cert:  # the same TLS the gateway serves: TLS 1.2+, Python's defaults
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    server = BareServer()
    async with server.serve(args.host, args.port, ssl_context):
        print(json.dumps({"ready": True, "port": args.port}), flush=True)
        await control_loop(server)


if __name__ == "__main__":
    asyncio.run(main())
