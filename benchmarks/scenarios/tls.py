"""Scenario 3b: the reconnect storm over TLS, with security profiles 2 and 3.

The same storm as ``connections.storm`` (every charger drops at once and comes straight
back), four times: our gateway over plain ws:// (the baseline of this run), over wss://
with passwords (profile 2), over wss:// with a client certificate per charger bound to
its id (profile 3), and the bare reference over wss://. A TLS handshake runs on the
gateway's event loop before any of our checks; these rows show its price.

Profile 2 passwords are stored as PBKDF2 hashes of 1,000 iterations here, not the
production work factor: the storm measures TLS, and a verified password is cached by
the gateway anyway (the first connect pays for it, outside the measured storm).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from benchmarks import fleet
from benchmarks.harness import Bench
from benchmarks.report import Figure, ratio
from benchmarks.scenarios.common import reset_state
from benchmarks.scenarios.connections import storm_side
from benchmarks.tls import make_pki
from chargers.models import Charger

PASSWORD = "bench-ocpp-password-1"


def _set_profile(n: int, profile: int) -> None:
    """The first `n` bench chargers: this profile, and a password for profile 2."""
    password_hash = ""
    if profile == 2:
        password_hash = PBKDF2PasswordHasher().encode(
            PASSWORD, secrets.token_hex(8), iterations=1000
        )
    Charger.objects.filter(
        charge_point_id__gte=fleet.charge_point_id(1),
        charge_point_id__lte=fleet.charge_point_id(n),
    ).update(security_profile=profile, password_hash=password_hash)


def tls_storm(bench: Bench) -> list[Figure]:
    n = bench.n(1000)
    folder = Path(tempfile.mkdtemp(prefix="bench-pki-"))
    pki = make_pki(folder, [fleet.charge_point_id(i) for i in range(1, n + 1)])
    profile2 = {"profile": 2, "password": PASSWORD, "tls_ca": pki.ca}
    runs = {
        "plain": ("gateway", 1, None, {}),
        "profile 2": ("gateway", 2, pki, profile2),
        "profile 3": ("gateway", 3, pki, {"profile": 3, "tls_ca": pki.ca, "cert_dir": folder}),
        "bare": ("bare", 1, pki, profile2),
    }
    sides = {}
    try:
        for name, (side, profile, tls, options) in runs.items():
            reset_state(bench)
            _set_profile(n, profile)
            sides[name] = storm_side(bench, side, n, tls=tls, **options)
            bench.stop_all()
    finally:
        _set_profile(n, 1)  # as every other scenario expects its chargers
        shutil.rmtree(folder, ignore_errors=True)
    plain, bare = sides["plain"], sides["bare"]
    figures = []
    for profile in (2, 3):
        ours = sides[f"profile {profile}"]
        seconds = ours["recorded_seconds"]
        limit = None if plain["recorded_seconds"] is None else plain["recorded_seconds"] + 3
        what = "with passwords" if profile == 2 else "with client certificates"
        figures.append(
            Figure(
                f"reconnect storm over TLS {what}, profile {profile} ({n}): all back and booted",
                "s",
                seconds,
                bare["charger_seconds"],
                ratio(seconds, bare["charger_seconds"]),
                "≤ the plain storm of this run + 3 s and ≤ 3× bare over TLS; none refused",
                seconds is not None
                and limit is not None
                and seconds <= limit
                and (not bare["charger_seconds"] or seconds <= 3 * bare["charger_seconds"])
                and ours["back"] == ours["routes"] == n
                and ours["refused"] == 0,
                "tls_storm",
                bench.scale,
                {
                    "chargers": n,
                    "plain_storm_seconds": plain["recorded_seconds"],
                    "back": ours["back"],
                    "routes_for_commands": ours["routes"],
                    "refused": ours["refused"],
                    "cpu_seconds": {"gateway": ours["cpu"], "gateway plain": plain["cpu"]},
                },
            )
        )
    extra = (sides["profile 3"]["cpu"] - plain["cpu"]) / n * 1000
    figures.append(
        Figure(
            "TLS handshake CPU per connection (gateway, profile 3)",
            "ms",
            extra,
            None,
            None,
            "reported: the gateway's extra CPU per reconnect over plain ws://",
            True,
            "tls_storm",
            bench.scale,
            {"profile 2": (sides["profile 2"]["cpu"] - plain["cpu"]) / n * 1000},
        )
    )
    return figures
