"""Guessers are slowed down; the real charger with its right password never is.

Attackers arrive through a trusted proxy (127.0.0.1) that names them in
X-Forwarded-For, as they would behind the balancer.
"""

from __future__ import annotations

import json
import logging
import urllib.request

from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import basic_auth, ws_url
from tests.ocpp_gateway.test_connection_limits import try_open

RIGHT = "Right-Password-123456"


def attempt(runner, gateway_or_port, cp_id, password, address):
    headers = {"X-Forwarded-For": address}
    if password is not None:
        headers |= basic_auth(cp_id, password)
    kind, answer = try_open(runner, ws_url(gateway_or_port, cp_id), headers)
    if kind == "open":
        runner.run(answer.close())
        return 101, None
    return answer.status_code, answer


def health(port) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return json.loads(r.read())


def test_repeated_failures_from_one_address_are_refused_429_logged_and_counted(
    make_gateway, runner, caplog
):
    caplog.set_level(logging.WARNING, logger="ocpp_gateway")
    gateway = make_gateway(auth_failures_per_address=3, auth_failures_per_charger=0)
    make_charger(charge_point_id="CP-T1", password=RIGHT, is_connected=False)
    attacker = "203.0.113.7"
    assert attempt(runner, gateway, "CP-T1", "guess-1", attacker)[0] == 401
    assert attempt(runner, gateway, "NO-SUCH-ID", "guess-2", attacker)[0] == 401
    assert attempt(runner, gateway, "CP-T1", None, attacker)[0] == 401
    status, answer = attempt(runner, gateway, "CP-T1", "guess-4", attacker)
    assert status == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 300
    # Even the right password from that address waits: it is not known good.
    assert attempt(runner, gateway, "CP-T1", RIGHT, attacker)[0] == 429
    # Another address is not affected.
    assert attempt(runner, gateway, "CP-T1", RIGHT, "198.51.100.20")[0] == 101
    counters = health(gateway.port)["counters"]
    assert counters["auth_failures"] == 3 and counters["auth_throttled"] == 2
    assert len([r for r in caplog.records if "auth failed for" in r.getMessage()]) == 3
    assert [r for r in caplog.records if "too many failed logins" in r.getMessage()]


def test_repeated_failures_against_one_id_refuse_new_addresses_for_that_id(make_gateway, runner):
    gateway = make_gateway(auth_failures_per_address=0, auth_failures_per_charger=3)
    make_charger(charge_point_id="CP-T2", password=RIGHT, is_connected=False)
    make_charger(charge_point_id="CP-T2-OTHER", password=RIGHT, is_connected=False)
    for n in range(3):
        assert attempt(runner, gateway, "CP-T2", f"guess-{n}", f"203.0.113.{n + 1}")[0] == 401
    assert attempt(runner, gateway, "CP-T2", "guess-3", "203.0.113.99")[0] == 429
    # Other ids are not affected, from any of those addresses.
    assert attempt(runner, gateway, "CP-T2-OTHER", RIGHT, "203.0.113.1")[0] == 101


def test_the_real_charger_with_the_right_password_still_connects_while_its_id_is_attacked(
    make_gateway, runner
):
    gateway = make_gateway(auth_failures_per_address=2, auth_failures_per_charger=2)
    make_charger(charge_point_id="CP-T3", password=RIGHT, is_connected=False)
    home = "198.51.100.5"
    assert attempt(runner, gateway, "CP-T3", RIGHT, home)[0] == 101
    for n in range(4):
        attempt(runner, gateway, "CP-T3", f"guess-{n}", f"203.0.113.{n + 1}")
    assert attempt(runner, gateway, "CP-T3", "guess-x", "203.0.113.50")[0] == 429
    assert attempt(runner, gateway, "CP-T3", RIGHT, home)[0] == 101
    # A gateway that never saw it connect (a fresh process) knows the pair from Redis.
    fresh = make_gateway(auth_failures_per_address=2, auth_failures_per_charger=2)
    assert attempt(runner, fresh, "CP-T3", "guess-y", "203.0.113.51")[0] == 401  # learns: blocked
    assert attempt(runner, fresh, "CP-T3", "guess-z", "203.0.113.52")[0] == 429
    assert attempt(runner, fresh, "CP-T3", RIGHT, home)[0] == 101


def test_two_gateway_processes_share_the_failure_counts(gateway_process, runner):
    limits = {"OCPP_AUTH_FAILURES_PER_ADDRESS": "3", "OCPP_AUTH_FAILURES_PER_CHARGER": "0"}
    a = gateway_process("gw-auth-a", **limits)
    b = gateway_process("gw-auth-b", **limits)
    make_charger(charge_point_id="CP-T4", password=RIGHT, is_connected=False)
    attacker = "203.0.113.77"
    assert attempt(runner, a.port, "CP-T4", "guess-1", attacker)[0] == 401
    assert attempt(runner, a.port, "CP-T4", "guess-2", attacker)[0] == 401
    # The third failure, at the other gateway, reaches the shared limit there.
    assert attempt(runner, b.port, "CP-T4", "guess-3", attacker)[0] == 401
    assert attempt(runner, b.port, "CP-T4", "guess-4", attacker)[0] == 429
    # Gateway a learns at its own next failure from that address.
    assert attempt(runner, a.port, "CP-T4", "guess-5", attacker)[0] == 401
    assert attempt(runner, a.port, "CP-T4", "guess-6", attacker)[0] == 429
    wait_for(lambda: health(b.port)["counters"].get("auth_throttled") == 1, 10)
