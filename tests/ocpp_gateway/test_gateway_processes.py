"""The gateway as its own process: two of them routing commands, SIGTERM, stale commands."""

import signal

import redis
from django.conf import settings

from chargers.models import Charger
from ocpp_gateway import commands, registry
from ocpp_gateway.gateway_config import GatewayConfig, default_gateway_id
from tests.factories import make_charger
from tests.helpers import stop, wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url


def fresh(charge_point_id) -> Charger:
    return Charger.objects.get(charge_point_id=charge_point_id)


def online(sim) -> bool:
    return sim.connected and sim.stats.boots >= 1 and commands.is_connected(sim.id)


def test_with_two_gateways_a_command_reaches_the_one_holding_the_socket(gateway_process, sims):
    gw_a = gateway_process("gw-a")
    gw_b = gateway_process("gw-b")
    make_charger(charge_point_id="CP-ON-A", is_connected=False)
    make_charger(charge_point_id="CP-ON-B", is_connected=False, ocpp_version="2.0.1")
    on_a = sims.start("CP-ON-A", ws_url(gw_a.port))
    on_b = sims.start("CP-ON-B", ws_url(gw_b.port), ocpp_version="2.0.1")
    wait_for(lambda: online(on_a) and online(on_b), message="both chargers online")

    to_a = commands.send_reset("CP-ON-A", "Soft", timeout=10)
    to_b = commands.trigger_boot_notification("CP-ON-B", timeout=10)

    assert to_a.ok and to_a.status == "Accepted"
    assert to_b.ok and to_b.status == "Accepted"
    assert on_a.stats.resets == 1 and on_a.stats.trigger_messages == 0
    assert on_b.stats.resets == 0 and on_b.stats.trigger_messages == 1
    wait_for(lambda: on_a.stats.boots == 2, message="A rebooted through gateway A")
    assert "CP-ON-A: Reset -> answered Accepted" in gw_a.output()
    assert "CP-ON-A" not in gw_b.output()


def test_a_charger_moving_to_another_gateway_is_let_go_by_the_first(gateway_process, runner):
    gw_a = gateway_process("gw-a")
    gw_b = gateway_process("gw-b")
    make_charger(charge_point_id="CP-MOVER", is_connected=False)
    old_cp, old_ws, _ = runner.run(open_client(ws_url(gw_a.port), "CP-MOVER", "1.6"))
    wait_for(lambda: fresh("CP-MOVER").is_connected)
    new_cp, new_ws, _ = runner.run(open_client(ws_url(gw_b.port), "CP-MOVER", "1.6"))

    runner.run(old_ws.wait_closed(), timeout=20)
    assert "replaced" in old_ws.close_reason
    client = redis.Redis.from_url(settings.REDIS_URL)
    route = registry.Route.decode(client.hget(registry.ROUTES, "CP-MOVER"))
    assert route.gateway_id == "gw-b"
    assert commands.trigger_boot_notification("CP-MOVER", timeout=10).ok
    assert [name for name, _ in new_cp.received] == ["TriggerMessage"]
    assert old_cp.received == []
    # Both gateways' writes land (in either order); the newer socket's state is what stays.
    wait_for(lambda: (c := fresh("CP-MOVER")).is_connected and c.connection_token == route.token)
    runner.run(new_ws.close())


def test_sigterm_closes_sockets_with_going_away_and_marks_chargers_disconnected(
    gateway_process, sims
):
    gw = gateway_process("gw-term")
    for cp_id in ("CP-T1", "CP-T2"):
        make_charger(charge_point_id=cp_id, is_connected=False)
    # Chargers that stay away once the gateway went (they would retry against nothing).
    chargers = [
        sims.start(cp_id, ws_url(gw.port), backoff_base=30, backoff_cap=30)
        for cp_id in ("CP-T1", "CP-T2")
    ]
    wait_for(lambda: all(online(sim) for sim in chargers), message="chargers online")
    wait_for(lambda: Charger.objects.filter(is_connected=True).count() == 2)

    assert stop(gw.proc, signal.SIGTERM) == 0

    assert Charger.objects.filter(is_connected=True).count() == 0
    assert all(c.disconnected_at for c in Charger.objects.all())
    log = gw.output()
    assert log.count("socket closed (code 1001") == 2
    assert not commands.is_connected("CP-T1")
    assert commands.send_reset("CP-T1", "Soft", timeout=5).outcome == "not_connected"
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.hlen(registry.ROUTES) == 0
    assert not client.exists(registry.alive_key("gw-term"))
    assert not gw.healthy()


def test_a_request_the_gateway_never_took_is_withdrawn_and_reported_not_sent(gateway_process, sims):
    gw = gateway_process("gw-stale")
    client = redis.Redis.from_url(settings.REDIS_URL)
    for cp_id in ("CP-STALE-1", "CP-STALE-2"):
        make_charger(charge_point_id=cp_id, is_connected=False)
    first = sims.start("CP-STALE-1", ws_url(gw.port))
    second = sims.start("CP-STALE-2", ws_url(gw.port))
    wait_for(lambda: online(first) and online(second))

    gw.proc.send_signal(signal.SIGSTOP)  # the gateway is frozen (busy, stalled)
    try:
        results = commands.send_resets(
            [("CP-STALE-1", "Hard"), ("CP-STALE-2", "Hard")], timeout=0.5
        )
        # Its waiting BLPOP took the first request off the queue as it arrived: that
        # one is uncertain. The second never left the queue: withdrawn, certainly never
        # sent, so safe to try again (it used to be a timeout, a final no_answer).
        assert results[0].outcome == "timeout"
        assert results[1].outcome == "not_sent" and results[1].detail.startswith("withdrawn")
        assert client.llen(registry.requests_key("gw-stale")) == 0
    finally:
        gw.proc.send_signal(signal.SIGCONT)

    # Alive again (a late gateway gets no commands), the next command is answered; the
    # stale one it took was never sent (its deadline had passed).
    wait_for(lambda: commands.gateway_states(client, ["gw-stale"])["gw-stale"].status == "alive")
    assert commands.trigger_boot_notification("CP-STALE-1", timeout=10).ok
    assert first.stats.resets == 0 and second.stats.resets == 0
    assert first.stats.connects == 1


def test_gateway_restart_after_a_crash_clears_its_old_routes(gateway_process, sims):
    gw = gateway_process("gw-crash")
    make_charger(charge_point_id="CP-CRASH", is_connected=False)
    sim = sims.start("CP-CRASH", ws_url(gw.port), backoff_base=30, backoff_cap=30)
    wait_for(lambda: online(sim) and fresh("CP-CRASH").is_connected)
    stop(gw.proc, signal.SIGKILL)  # no clean-up at all
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.hget(registry.ROUTES, "CP-CRASH") is not None
    assert fresh("CP-CRASH").is_connected  # what a crash leaves behind

    gateway_process("gw-crash")

    wait_for(lambda: not fresh("CP-CRASH").is_connected, message="left-over state cleared")
    assert client.hget(registry.ROUTES, "CP-CRASH") is None
    assert commands.send_reset("CP-CRASH", "Soft", timeout=5).outcome == "not_connected"
    assert sim.stats.resets == 0


def test_an_empty_gateway_id_falls_back_to_host_and_port():
    """`run_gateway --gateway-id "$GATEWAY_ID"` with the variable unset: two such gateways
    must not share one command queue and liveness key under the id ""."""
    assert GatewayConfig.from_settings(port=9101, gateway_id="").gateway_id == (
        default_gateway_id(9101)
    )
    assert GatewayConfig.from_settings(port=9101, gateway_id="gw-a").gateway_id == "gw-a"
