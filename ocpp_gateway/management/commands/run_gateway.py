"""`python manage.py run_gateway --host 127.0.0.1 --port 9000 [--gateway-id X]`."""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from ocpp_gateway.server import Gateway, GatewayConfig


class Command(BaseCommand):
    help = "Run the OCPP gateway: the websocket server chargers connect to."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument(
            "--gateway-id",
            default=None,
            help="name of this gateway process in the command channel (default: host:port)",
        )

    def handle(self, *args, **options):
        asyncio.run(self.serve(options))

    async def serve(self, options) -> None:
        config = GatewayConfig.from_settings(
            host=options["host"], port=options["port"], gateway_id=options["gateway_id"]
        )
        gateway = Gateway(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await gateway.start()
        self.stdout.write(
            f"OCPP gateway {gateway.gateway_id} on ws://{gateway.host}:{gateway.port}/ocpp/<id>",
        )
        self.stdout.flush()
        await stop.wait()
        await gateway.stop()
