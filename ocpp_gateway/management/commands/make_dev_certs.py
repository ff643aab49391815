"""`python manage.py make_dev_certs --out DIR --ids CP-1,CP-2 [--hosts localhost,127.0.0.1]`.

Writes a development PKI for trying security profiles 2 and 3 (never for production):
``ca.pem`` (the CA of the gateway's certificate and of the chargers' ones),
``server.crt``/``server.key`` for the gateway, ``<id>.crt``/``<id>.key`` per charger
(subject CN = the charge point id) and an empty ``crl.pem``.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ocpp_gateway.devpki import DevCA, server_leaf


def _names(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Write a development CA, a gateway certificate and charger client certificates."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="folder to write to (created)")
        parser.add_argument(
            "--ids", default="", help="charge point ids, comma-separated: one certificate each"
        )
        parser.add_argument(
            "--hosts",
            default="localhost,127.0.0.1",
            help="names and addresses the gateway's certificate is for",
        )
        parser.add_argument("--org", default="", help="the O (operator) of charger certificates")

    def handle(self, *args, **options):
        out = Path(options["out"])
        hosts = _names(options["hosts"])
        if not hosts:
            raise CommandError("--hosts: name at least one host or address")
        ids = _names(options["ids"])
        ca = DevCA()
        ca_path = ca.write(out)
        server_cert, server_key = server_leaf(ca, hosts).write(out, "server")
        crl_path = out / "crl.pem"
        crl_path.write_bytes(ca.crl())
        for cp_id in ids:
            if "/" in cp_id or cp_id.startswith("."):
                raise CommandError(f"{cp_id!r} cannot be a file name")
            ca.issue(cp_id, org=options["org"] or None).write(out, cp_id)
        self.stdout.write(f"CA: {ca_path}\nCRL: {crl_path}")
        self.stdout.write(f"gateway certificate ({', '.join(hosts)}): {server_cert}, {server_key}")
        for cp_id in ids:
            self.stdout.write(f"{cp_id}: {out / (cp_id + '.crt')}, {out / (cp_id + '.key')}")
        self.stdout.write(
            "\nServe wss:// with them (ws:// stays on 9000):\n"
            f"  python manage.py run_gateway --port 9443 --plain-port 9000 "
            f"--tls-cert {server_cert} --tls-key {server_key} --client-ca {ca_path} "
            f"--client-crl {crl_path}\n"
            "Connect simulated chargers with each one's security profile:\n"
            f"  python manage.py simulate_chargers --from-db --url wss://{hosts[0]}:9443/ocpp "
            f"--tls-ca {ca_path} --cert-dir {out}"
        )
