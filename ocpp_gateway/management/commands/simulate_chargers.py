"""`python manage.py simulate_chargers`: a simulated fleet in one process (see simulator.py).

simulate_chargers --from-db --password secret --exclude CP-1,CP-2 --behaviour CP-3=reject
simulate_chargers --id CP-7 --id CP-8,CP-9          # exactly these chargers from the database
simulate_chargers --count 500 --prefix CP- --ocpp 2.0.1 --share no_answer=0.1
simulate_chargers --from-db --url wss://localhost:9443/ocpp --tls-ca ca.pem --cert-dir certs/

Security profiles: from the database each charger connects with its own profile (--profile
sets one for all). Profiles 2 and 3 need a wss:// --url and --tls-ca (the gateway's CA);
profile 3 presents certs/<id>.crt and certs/<id>.key (manage.py make_dev_certs writes them).

--from-db plays only the chargers marked simulated (the demo fleet seed_demo made): a
charger a user added is simulated only when named with --id, and a named one that is real
and connected right now only with --take-over (its twin would push it off its socket).
"""

from __future__ import annotations

import asyncio
import random
import signal
import ssl
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chargers.models import Charger
from ocpp_gateway.behaviours import BEHAVIOURS, assign_behaviours
from ocpp_gateway.simulator import Fleet, SimulatedCharger, client_ssl_context


def _pairs(values: list[str], option: str) -> dict[str, str]:
    result = {}
    for value in values:
        key, sep, kind = value.partition("=")
        if not sep or not key.strip() or not kind.strip():
            raise CommandError(f"{option} takes KEY=VALUE, got {value!r}")
        result[key.strip()] = kind.strip()
    return result


class Command(BaseCommand):
    help = "Run simulated OCPP chargers against the gateway until stopped (Ctrl-C / SIGTERM)."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--from-db",
            action="store_true",
            help="the chargers marked simulated in the database (the demo fleet)",
        )
        source.add_argument(
            "--id",
            action="append",
            dest="ids",
            metavar="ID[,ID]",
            help="exactly these chargers from the database (repeatable)",
        )
        source.add_argument("--count", type=int, help="this many chargers named PREFIX + number")
        parser.add_argument("--prefix", default="CP-")
        parser.add_argument("--url", default="ws://127.0.0.1:9000/ocpp")
        parser.add_argument(
            "--ocpp",
            choices=["1.6", "2.0.1"],
            default=None,
            help="protocol version (default: each charger's own with --from-db, else 1.6)",
        )
        parser.add_argument("--password", default=None, help="for chargers that require one")
        parser.add_argument(
            "--profile",
            type=int,
            choices=[1, 2, 3],
            default=None,
            help="security profile (default: each charger's own with --from-db, else 1)",
        )
        parser.add_argument("--tls-ca", default=None, metavar="FILE", help="the gateway's CA")
        parser.add_argument(
            "--cert-dir", default=None, metavar="DIR", help="<id>.crt and <id>.key per charger"
        )
        parser.add_argument("--exclude", default="", help="comma-separated ids to leave offline")
        parser.add_argument(
            "--take-over",
            action="store_true",
            help="with --id: simulate a real charger even while it is connected",
        )
        parser.add_argument(
            "--behaviour",
            action="append",
            default=[],
            metavar="ID=KIND",
            help=f"per-charger behaviour, one of: {', '.join(BEHAVIOURS)}; timed habits "
            "join one with +: reject+faulted_after=30, unresponsive_after=SECONDS",
        )
        parser.add_argument(
            "--share",
            action="append",
            default=[],
            metavar="KIND=FRACTION",
            help="give this fraction of the fleet a behaviour, e.g. reject=0.1",
        )
        parser.add_argument("--reboot-seconds", type=float, default=3.0)
        parser.add_argument("--slow-back-seconds", type=float, default=None)
        parser.add_argument(
            "--heartbeat-seconds",
            type=float,
            default=None,
            help="default: the interval the gateway gives in the BootNotification answer",
        )
        parser.add_argument("--session-seconds", type=float, default=60.0)
        parser.add_argument(
            "--boot-delay",
            type=float,
            default=4.0,
            help="unregistered: seconds after connecting before it sends its BootNotification",
        )
        parser.add_argument("--seed", type=int, default=None, help="for --share and jitter")
        parser.add_argument("--stats-file", default=None, help="write per-charger counts on exit")

    def handle(self, *args, **options):
        fleet = self.build(options)
        if not fleet.chargers:
            raise CommandError("no chargers to simulate")
        self.stdout.write(f"simulating {len(fleet.chargers)} chargers against {options['url']}")
        self.stdout.flush()
        try:
            asyncio.run(self.run(fleet))
        finally:
            if options["stats_file"]:
                fleet.write_stats(options["stats_file"])

    def build(self, options) -> Fleet:
        excluded = {item.strip() for item in options["exclude"].split(",") if item.strip()}
        if options["from_db"] or options["ids"]:
            rows = [
                (
                    charger.charge_point_id,
                    options["ocpp"] or charger.ocpp_version,
                    charger.requires_password,
                    {
                        "security_profile": options["profile"] or charger.security_profile,
                        "vendor": charger.vendor or "Wallbox",
                        "model": charger.model or "Pulsar Plus",
                        "firmware_version": charger.firmware_version or "1.0.0",
                        "serial_number": charger.serial_number or None,
                    },
                )
                for charger in self.chargers_from_db(options)
            ]
        else:
            if options["count"] < 1:
                raise CommandError("--count must be at least 1")
            width = max(3, len(str(options["count"])))
            profile = {"security_profile": options["profile"] or 1}
            rows = [
                (f"{options['prefix']}{i:0{width}d}", options["ocpp"] or "1.6", True, profile)
                for i in range(1, options["count"] + 1)
            ]
        rows = [row for row in rows if row[0] not in excluded]
        rng = random.Random(options["seed"])
        try:
            behaviours = assign_behaviours(
                [row[0] for row in rows],
                _pairs(options["behaviour"], "--behaviour"),
                {k: float(v) for k, v in _pairs(options["share"], "--share").items()},
                rng,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            contexts = {cp_id: self.tls(options, cp_id, facts) for cp_id, _v, _p, facts in rows}
        except (OSError, ssl.SSLError) as exc:
            raise CommandError(f"TLS: {exc}") from exc
        chargers = [
            SimulatedCharger(
                cp_id,
                options["url"],
                ssl_context=contexts[cp_id],
                ocpp_version=version,
                password=options["password"] if needs_password else None,
                behaviour=behaviours[cp_id],
                reboot_seconds=options["reboot_seconds"],
                slow_back_seconds=options["slow_back_seconds"],
                heartbeat_seconds=options["heartbeat_seconds"],
                session_seconds=options["session_seconds"],
                boot_delay=options["boot_delay"],
                rng=random.Random(rng.random()),
                **facts,
            )
            for cp_id, version, needs_password, facts in rows
        ]
        return Fleet(chargers)

    def tls(self, options, cp_id: str, facts: dict) -> ssl.SSLContext | None:
        """The charger's TLS context: none for ws://; its own certificate for profile 3."""
        url, profile = options["url"], facts["security_profile"]
        if not url.startswith("wss://"):
            if profile >= 2:
                raise CommandError(f"{cp_id}: security profile {profile} needs a wss:// --url")
            return None
        if profile < 3:
            if self._shared is None:
                self._shared = client_ssl_context(options["tls_ca"])
            return self._shared
        if not options["cert_dir"]:
            raise CommandError(f"{cp_id}: security profile 3 needs --cert-dir")
        folder = Path(options["cert_dir"])
        return client_ssl_context(
            options["tls_ca"], folder / f"{cp_id}.crt", folder / f"{cp_id}.key"
        )

    _shared: ssl.SSLContext | None = None

    def chargers_from_db(self, options) -> list[Charger]:
        if options["from_db"]:
            return list(Charger.objects.filter(simulated=True).order_by("charge_point_id"))
        wanted = {i.strip() for value in options["ids"] for i in value.split(",") if i.strip()}
        if not wanted:
            raise CommandError("--id needs at least one charge point id")
        chargers = list(
            Charger.objects.filter(charge_point_id__in=wanted).order_by("charge_point_id")
        )
        unknown = sorted(wanted - {c.charge_point_id for c in chargers})
        if unknown:
            raise CommandError(f"no charger with charge point id {', '.join(unknown)}")
        live = [c.charge_point_id for c in chargers if not c.simulated and c.is_connected]
        if live and not options["take_over"]:
            raise CommandError(
                f"{', '.join(live)}: a real charger connected now; a simulated twin would "
                "push it off its socket. Add --take-over if you mean it."
            )
        return chargers

    async def run(self, fleet: Fleet) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, fleet.stop)
        await fleet.run()
