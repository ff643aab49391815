"""GET /metrics on the gateway's port: what operators see from outside, in Prometheus text."""

import asyncio
import json
import re
import urllib.error
import urllib.request

import pytest
import redis
from django.conf import settings
from ocpp.v16 import call as call16
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ocpp_gateway import commands, registry
from tests.factories import make_charger
from tests.helpers import ROOT, wait_for
from tests.ocpp_gateway.conftest import basic_auth, open_client, ws_url


def scrape_raw(gateway, headers=None) -> tuple[int, str, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gateway.port}/metrics", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def scrape(gateway) -> dict[tuple[str, tuple], float]:
    status, content_type, body = scrape_raw(gateway)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def online(sim) -> bool:
    return sim.connected and sim.stats.boots >= 1 and commands.is_connected(sim.id)


def test_metrics_count_connected_chargers_by_ocpp_version(gateway, sims):
    started = []
    for n, version in enumerate(["1.6", "1.6", "1.6", "2.0.1", "2.0.1"]):
        make_charger(charge_point_id=f"CP-M{n}", ocpp_version=version, is_connected=False)
        started.append(sims.start(f"CP-M{n}", ws_url(gateway), ocpp_version=version))
    wait_for(lambda: all(online(sim) for sim in started), message="five chargers online")
    samples = scrape(gateway)
    assert value(samples, "ocpp_gateway_connected_chargers", ocpp_version="1.6") == 3
    assert value(samples, "ocpp_gateway_connected_chargers", ocpp_version="2.0.1") == 2
    assert value(samples, "ocpp_gateway_boots_pending") == 0

    sims.stop_all()
    wait_for(
        lambda: value(scrape(gateway), "ocpp_gateway_connected_chargers", ocpp_version="1.6") == 0,
        message="gone from the gauge",
    )
    assert value(scrape(gateway), "ocpp_gateway_connected_chargers", ocpp_version="2.0.1") == 0


def test_metrics_count_messages_in_and_out_by_action(gateway, runner):
    make_charger(charge_point_id="CP-LIB", is_connected=False)
    cp, websocket, _reader = runner.run(open_client(ws_url(gateway), "CP-LIB", "1.6"))
    boot = call16.BootNotification(charge_point_model="Pulsar Plus", charge_point_vendor="Wallbox")
    assert runner.run(cp.call(boot)).status == "Accepted"
    for _ in range(2):
        assert runner.run(cp.call(call16.Heartbeat())).current_time

    samples = scrape(gateway)
    name = "ocpp_gateway_messages_total"
    assert value(samples, name, direction="in", action="BootNotification", type="call") == 1
    assert value(samples, name, direction="out", action="BootNotification", type="result") == 1
    assert value(samples, name, direction="in", action="Heartbeat", type="call") == 2
    assert value(samples, name, direction="out", action="Heartbeat", type="result") == 2

    # Our call out, its answer in, and the latency observed under the action's name.
    assert commands.trigger_boot_notification("CP-LIB", timeout=5).ok
    samples = scrape(gateway)
    assert value(samples, name, direction="out", action="TriggerMessage", type="call") == 1
    assert value(samples, name, direction="in", action="TriggerMessage", type="result") == 1
    runner.run(websocket.close())


def test_invented_actions_are_counted_as_other_not_as_new_series(gateway, runner):
    make_charger(charge_point_id="CP-INVENT", is_connected=False)

    async def invent():
        async with connect(ws_url(gateway, "CP-INVENT"), subprotocols=["ocpp1.6"]) as ws:
            for n in range(50):
                await ws.send(json.dumps([2, f"m{n}", f"MadeUpAction{n}", {}]))
                answer = json.loads(await ws.recv())
                assert answer[0] == 4 and answer[1] == f"m{n}"

    runner.run(invent())
    status, _type, body = scrape_raw(gateway)
    assert status == 200 and "MadeUpAction" not in body
    samples = scrape(gateway)
    name = "ocpp_gateway_messages_total"
    assert value(samples, name, direction="in", action="other", type="call") == 50
    assert value(samples, name, direction="out", action="other", type="error") == 50


def test_call_latency_is_observed_per_action_and_outcome(gateway, sims):
    make_charger(charge_point_id="CP-YES", is_connected=False)
    make_charger(charge_point_id="CP-MUTE", is_connected=False)
    yes = sims.start("CP-YES", ws_url(gateway))
    mute = sims.start("CP-MUTE", ws_url(gateway), behaviour="no_answer")
    wait_for(lambda: online(yes) and online(mute), message="both online")

    results = commands.send_resets([("CP-YES", "Soft"), ("CP-MUTE", "Soft")], timeout=1.5)
    assert [r.outcome for r in results] == ["answered", "timeout"]
    samples = scrape(gateway)
    name = "ocpp_gateway_call_duration_seconds"
    assert value(samples, f"{name}_count", action="Reset", outcome="answered") == 1
    assert value(samples, f"{name}_count", action="Reset", outcome="timeout") == 1
    # The timed-out call waited about its deadline: it sits above the 1 s bucket.
    assert value(samples, f"{name}_bucket", action="Reset", outcome="timeout", le="1.0") == 0
    assert value(samples, f"{name}_sum", action="Reset", outcome="timeout") >= 1.0


def test_handshakes_refused_are_counted_by_reason(gateway, runner):
    make_charger(charge_point_id="CP-LOCKED", is_connected=False, password="right-one")

    async def refused(url, **kwargs) -> int:
        with pytest.raises(InvalidStatus) as info:
            async with connect(url, **kwargs):
                pass
        return info.value.response.status_code

    async def attempts():
        return [
            await refused(ws_url(gateway, "NO-SUCH-ID"), subprotocols=["ocpp1.6"]),
            await refused(ws_url(gateway, "CP-LOCKED")),  # no subprotocol
            await refused(
                ws_url(gateway, "CP-LOCKED"),
                subprotocols=["ocpp1.6"],
                additional_headers=basic_auth("CP-LOCKED", "wrong"),
            ),
            await refused(
                ws_url(gateway, "CP-LOCKED"),
                subprotocols=["ocpp1.6"],
                additional_headers=basic_auth("CP-LOCKED", "wrong-again"),
            ),
        ]

    # An unknown id gets the same 401 as a wrong password (ids cannot be listed).
    assert runner.run(attempts()) == [401, 400, 401, 401]
    samples = scrape(gateway)
    name = "ocpp_gateway_handshakes_refused_total"
    assert value(samples, name, reason="not_found") == 0
    assert value(samples, name, reason="bad_request") == 1
    assert value(samples, name, reason="unauthorized") == 3
    # Scrapes and health checks are not refusals.
    urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/healthz", timeout=5).close()
    assert sum(v for (n, _), v in scrape(gateway).items() if n == name) == 4


def test_too_many_sockets_from_one_address_are_counted(make_gateway, runner):
    gateway = make_gateway(max_connections_per_ip=1, trusted_proxies=())
    make_charger(charge_point_id="CP-ONE", is_connected=False)
    make_charger(charge_point_id="CP-TWO", is_connected=False)

    async def two():
        async with connect(ws_url(gateway, "CP-ONE"), subprotocols=["ocpp1.6"]):
            with pytest.raises(InvalidStatus) as info:
                async with connect(ws_url(gateway, "CP-TWO"), subprotocols=["ocpp1.6"]):
                    pass
            return info.value.response.status_code

    assert runner.run(two()) == 429
    samples = scrape(gateway)
    assert (
        value(samples, "ocpp_gateway_handshakes_refused_total", reason="too_many_from_address") == 1
    )


def test_command_queue_depth_reports_requests_waiting_for_this_gateway(gateway, runner):
    # Hold the command loop still so that what is queued stays queued.
    async def pause_commands():
        for task in gateway._tasks:
            if "CommandLoop.run" in repr(task.get_coro()):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return True
        return False

    assert runner.run(pause_commands())
    assert value(scrape(gateway), "ocpp_gateway_command_queue_depth") == 0
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(registry.requests_key(gateway.gateway_id), "{}", "{}", "{}")
        client.rpush(registry.requests_key("some-other-gateway"), "{}")
        assert value(scrape(gateway), "ocpp_gateway_command_queue_depth") == 3
    finally:
        client.delete(registry.requests_key(gateway.gateway_id))
        client.delete(registry.requests_key("some-other-gateway"))
        client.close()


def test_boots_pending_counts_connections_not_yet_accepted(gateway, runner):
    make_charger(charge_point_id="CP-SHY", is_connected=False)

    async def open_socket():
        return await connect(ws_url(gateway, "CP-SHY"), subprotocols=["ocpp1.6"])

    websocket = runner.run(open_socket())
    wait_for(lambda: "CP-SHY" in gateway.connections, message="socket open")
    assert value(scrape(gateway), "ocpp_gateway_boots_pending") == 1

    boot = [2, "b1", "BootNotification", {"chargePointVendor": "W", "chargePointModel": "P"}]

    async def boot_now():
        await websocket.send(json.dumps(boot))
        return json.loads(await websocket.recv())

    assert runner.run(boot_now())[2]["status"] == "Accepted"
    assert value(scrape(gateway), "ocpp_gateway_boots_pending") == 0
    runner.run(websocket.close())


def test_gateway_metrics_refused_to_other_addresses_and_through_a_proxy(make_gateway):
    elsewhere = make_gateway(metrics_allowed_ips=("10.0.0.0/8",))
    status, _type, body = scrape_raw(elsewhere)
    assert status == 404 and "ocpp_gateway" not in body

    local = make_gateway()  # the default: 127.0.0.1 and ::1
    assert scrape_raw(local)[0] == 200
    # Relayed by a proxy for someone outside: the forwarded address must be allowed too.
    status, _type, body = scrape_raw(local, {"X-Forwarded-For": "203.0.113.9"})
    assert status == 404 and "ocpp_gateway" not in body
    assert scrape_raw(local, {"X-Forwarded-For": "127.0.0.1"})[0] == 200

    off = make_gateway(metrics_allowed_ips=())
    assert scrape_raw(off)[0] == 404


def exported_names(body: str) -> set[str]:
    """Every series name a scrape can carry, from the families it declares."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(body)
        for suffix in suffixes.get(family.type, ("",))
    }


def test_grafana_dashboard_queries_only_metrics_we_export(gateway, client):
    dashboard = json.loads((ROOT / "docs" / "grafana" / "fleet-portal.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs, "the dashboard has queries"
    used = {
        name for expr in exprs for name in re.findall(r"\b(?:ocpp_gateway|portal)_[a-z_]+\b", expr)
    }
    web = client.get("/metrics")
    assert web.status_code == 200
    exported = exported_names(scrape_raw(gateway)[2]) | exported_names(web.content.decode())
    assert used <= exported, f"not exported: {sorted(used - exported)}"
    # Every family we export is on the dashboard somewhere.
    families = {n.removesuffix("_total").removesuffix("_bucket") for n in used}
    for family in text_string_to_metric_families(scrape_raw(gateway)[2]):
        assert family.name in families or any(f.startswith(family.name) for f in families)
