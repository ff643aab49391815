"""`python manage.py run_gateway --host 127.0.0.1 --port 9000 [--gateway-id X]`.

TLS (security profiles 2 and 3): `--tls-cert FILE --tls-key FILE` (repeatable, paired
in order: an ECDSA and an RSA chain), `--client-ca FILE` (ask chargers for a
certificate from this CA), `--client-crl FILE`, `--plain-port N` (ws:// beside wss://).
Each overrides its OCPP_TLS_* / OCPP_PLAIN_PORT setting.
"""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from ocpp_gateway.server import Gateway, GatewayConfig
from ocpp_gateway.tls import TlsConfig


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
        tls = parser.add_argument_group("TLS (wss://, security profiles 2 and 3)")
        tls.add_argument("--tls-cert", action="append", default=[], metavar="FILE")
        tls.add_argument("--tls-key", action="append", default=[], metavar="FILE")
        tls.add_argument("--client-ca", default=None, metavar="FILE")
        tls.add_argument("--client-crl", default=None, metavar="FILE")
        tls.add_argument("--plain-port", type=int, default=None, metavar="N")

    def handle(self, *args, **options):
        asyncio.run(self.serve(options))

    async def serve(self, options) -> None:
        tls = TlsConfig.from_settings(
            certs=options["tls_cert"],
            keys=options["tls_key"],
            client_ca=options["client_ca"],
            client_crl=options["client_crl"],
        )
        config = GatewayConfig.from_settings(
            host=options["host"],
            port=options["port"],
            gateway_id=options["gateway_id"],
            tls=tls,
            plain_port=options["plain_port"],
        )
        gateway = Gateway(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await gateway.start()
        scheme = "wss" if gateway.tls else "ws"
        self.stdout.write(
            f"OCPP gateway {gateway.gateway_id} on {scheme}://{gateway.host}:{gateway.port}/ocpp/<id>"
            + (
                f" and ws://{gateway.host}:{gateway.plain_port}/ocpp/<id>"
                if gateway.tls and gateway.plain_port
                else ""
            ),
        )
        self.stdout.flush()
        await stop.wait()
        await gateway.stop()
