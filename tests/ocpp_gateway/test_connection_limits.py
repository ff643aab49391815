"""Handshakes that never finish are closed; one address cannot hold unlimited sockets."""

from __future__ import annotations

import json
import socket

import pytest
from ocpp.v16 import call as call16
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chargers.models import Charger
from ocpp_gateway.simulator import Fleet, SimulatedCharger
from tests.factories import make_charger, make_group
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import basic_auth, open_client, ws_url


def try_open(runner, url, headers=None, source="127.0.0.1"):
    """Open a socket; returns ("open", websocket) or ("refused", HTTP response)."""

    async def attempt():
        try:
            ws = await connect(
                url,
                subprotocols=["ocpp1.6"],
                additional_headers=headers or {},
                local_addr=(source, 0),
            )
        except InvalidStatus as exc:
            return "refused", exc.response
        return "open", ws

    return runner.run(attempt())


def closes_unfinished_handshake(port: int, sent: bytes) -> bytes:
    """Connect, send `sent` (not a whole request) and read until the gateway hangs up."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(30)  # a bound for a broken gateway, not a timing assertion
        if sent:
            sock.sendall(sent)
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass  # the gateway aborts the connection
        return received


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /ocpp/CP-SLOW HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"],
    ids=["nothing sent", "request never finished"],
)
def test_a_handshake_that_never_finishes_is_closed(make_gateway, runner, sent):
    gateway = make_gateway(open_timeout=1)
    make_charger(charge_point_id="CP-SLOW", is_connected=False)
    make_charger(charge_point_id="CP-FINE", is_connected=False)
    cp, ws, _ = runner.run(open_client(ws_url(gateway), "CP-FINE"))

    assert closes_unfinished_handshake(gateway.port, sent) == b""  # hung up, no upgrade

    assert runner.run(cp.call(call16.Heartbeat())).current_time
    runner.run(ws.close())


def test_one_address_cannot_open_more_sockets_than_the_limit(make_gateway, runner):
    gateway = make_gateway(max_connections_per_ip=3, trusted_proxies=())
    ids = [make_charger(is_connected=False).charge_point_id for _ in range(6)]
    held = []
    for cp_id in ids[:3]:
        kind, ws = try_open(runner, ws_url(gateway, cp_id))
        assert kind == "open"
        held.append(ws)

    kind, response = try_open(runner, ws_url(gateway, ids[3]))
    assert kind == "refused" and response.status_code == 429
    assert response.headers["Retry-After"]
    assert b"Too many connections" in response.body

    # Another address is not affected (127.0.0.2 is loopback too on Linux).
    kind, other = try_open(runner, ws_url(gateway, ids[4]), source="127.0.0.2")
    assert kind == "open"

    # A socket that closes gives its place back.
    runner.run(held.pop().close())
    opened = wait_for(
        lambda: (result := try_open(runner, ws_url(gateway, ids[3])))[0] == "open" and result,
        message="a free place after one socket closed",
    )
    held.append(opened[1])
    # The sockets that stayed open were never disturbed.
    for ws in held:
        runner.run(ws.send(json.dumps([2, "hb", "Heartbeat", {}])))
        assert json.loads(runner.run(ws.recv()))[:2] == [3, "hb"]
    for ws in [*held, other]:
        runner.run(ws.close())


def test_refused_handshakes_do_not_use_up_the_limit(make_gateway, runner):
    gateway = make_gateway(max_connections_per_ip=2, trusted_proxies=())
    locked = make_charger(password="right", is_connected=False).charge_point_id
    for _ in range(5):
        kind, response = try_open(runner, ws_url(gateway, locked), basic_auth(locked, "wrong"))
        assert kind == "refused" and response.status_code == 401
        kind, response = try_open(runner, ws_url(gateway, "NOT-A-CHARGER"))
        assert kind == "refused" and response.status_code == 401

    opened = []
    for _ in range(2):
        cp_id = make_charger(is_connected=False).charge_point_id
        opened.append(wait_for(lambda cp_id=cp_id: try_open(runner, ws_url(gateway, cp_id))[0]))
    assert opened == ["open", "open"]


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(make_gateway, runner):
    gateway = make_gateway(max_connections_per_ip=2, trusted_proxies=("127.0.0.1",))
    ids = [make_charger(is_connected=False).charge_point_id for _ in range(7)]
    car_park = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}  # the proxy appended the last
    results = [try_open(runner, ws_url(gateway, cp_id), car_park) for cp_id in ids[:3]]
    assert [kind for kind, _ in results] == ["open", "open", "refused"]
    assert results[2][1].status_code == 429

    kind, _ = try_open(runner, ws_url(gateway, ids[3]), {"X-Forwarded-For": "198.51.100.8"})
    assert kind == "open"
    # The proxy's own connections (no X-Forwarded-For): local tools, the simulator.
    assert [try_open(runner, ws_url(gateway, cp_id))[0] for cp_id in ids[4:7]] == ["open"] * 3


def test_an_untrusted_peer_cannot_escape_the_limit_with_x_forwarded_for(make_gateway, runner):
    gateway = make_gateway(max_connections_per_ip=2, trusted_proxies=("10.1.2.3",))
    ids = [make_charger(is_connected=False).charge_point_id for _ in range(3)]
    kinds = [
        try_open(runner, ws_url(gateway, cp_id), {"X-Forwarded-For": f"198.51.100.{n}"})[0]
        for n, cp_id in enumerate(ids)
    ]
    assert kinds == ["open", "open", "refused"]


def test_a_trusted_proxy_given_as_a_network_is_trusted(make_gateway, runner):
    gateway = make_gateway(max_connections_per_ip=1, trusted_proxies=("127.0.0.0/8",))
    ids = [make_charger(is_connected=False).charge_point_id for _ in range(4)]
    site = {"X-Forwarded-For": "198.51.100.7"}
    kinds = [try_open(runner, ws_url(gateway, cp_id), site)[0] for cp_id in ids[:2]]
    assert kinds == ["open", "refused"]  # counted per forwarded address
    # 127.0.0.2 is inside the network: its own connections are a proxy's, not limited.
    kinds = [try_open(runner, ws_url(gateway, cp_id), source="127.0.0.2")[0] for cp_id in ids[2:]]
    assert kinds == ["open", "open"]


NATED_SITE = 1000  # ten times the old default cap of 100


def test_the_default_limit_admits_a_nated_site_of_a_thousand_chargers(make_gateway, runner):
    # Trusted proxies off, so every simulated charger on 127.0.0.1 counts as one address.
    gateway = make_gateway(trusted_proxies=())
    group = make_group()
    chargers = Charger.objects.bulk_create(
        Charger(charge_point_id=f"NAT-{n:04d}", name=f"NAT {n}", group=group)
        for n in range(NATED_SITE)
    )
    fleet = Fleet(
        [
            SimulatedCharger(c.charge_point_id, ws_url(gateway), heartbeat_seconds=60)
            for c in chargers
        ]
    )
    running = runner.submit(fleet.run())
    try:
        wait_for(
            lambda: Charger.objects.filter(group=group, is_connected=True).count() == NATED_SITE,
            timeout=120,
            message=f"all {NATED_SITE} chargers behind one address connected",
        )
        assert runner.call(lambda: gateway.handshake.clients["127.0.0.1"]) == NATED_SITE
    finally:
        runner.call(fleet.stop)
        running.result(60)


def test_ipv6_addresses_of_one_64_are_counted_together(make_gateway, runner):
    gateway = make_gateway(max_connections_per_ip=2, trusted_proxies=("127.0.0.1",))
    ids = [make_charger(is_connected=False).charge_point_id for _ in range(4)]

    def via(address, cp_id):
        return try_open(runner, ws_url(gateway, cp_id), {"X-Forwarded-For": address})[0]

    assert via("2001:db8:1:2::1", ids[0]) == "open"
    assert via("2001:db8:1:2::2", ids[1]) == "open"
    assert via("2001:db8:1:2:ffff::3", ids[2]) == "refused"  # same /64, a new address
    assert via("2001:db8:1:3::1", ids[3]) == "open"  # the next /64 is another site
