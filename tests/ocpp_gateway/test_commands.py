"""The command channel: from a worker's synchronous call to the charger's answer and back."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from chargers.models import Charger
from ocpp_gateway import commands
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url


def fresh(charge_point_id) -> Charger:
    return Charger.objects.get(charge_point_id=charge_point_id)


def online(sim) -> bool:
    return sim.connected and sim.stats.boots >= 1 and commands.is_connected(sim.id)


@pytest.mark.timeout(60)
def test_a_charger_connected_nowhere_gives_not_connected_at_once(gateway):
    make_charger(charge_point_id="CP-AWAY", is_connected=False)
    # A long timeout: a hang would end in "timeout" (or the test timeout), not "not_connected".
    result = commands.send_reset("CP-AWAY", "Soft", timeout=600)
    assert result.outcome == "not_connected" and not result.ok and result.detail
    assert commands.send_call("NO-SUCH-ID", "Heartbeat", {}, timeout=600).outcome == (
        "not_connected"
    )
    assert commands.trigger_boot_notification("CP-AWAY", timeout=600).outcome == "not_connected"
    assert not commands.is_connected("CP-AWAY")


@pytest.mark.parametrize(("version", "reset_type"), [("1.6", "Soft"), ("2.0.1", "Immediate")])
def test_reset_reaches_the_charger_which_reboots_and_boots_again(
    gateway, sims, version, reset_type
):
    make_charger(charge_point_id="CP-RESET", is_connected=False, ocpp_version=version)
    sim = sims.start("CP-RESET", ws_url(gateway), ocpp_version=version)
    wait_for(lambda: online(sim), message="simulated charger online")
    first_boot = wait_for(lambda: fresh("CP-RESET").last_boot_at)

    result = commands.send_reset("CP-RESET", reset_type, timeout=10)

    assert result.ok and result.status == "Accepted"
    assert result.payload == {"status": "Accepted"}
    assert sim.stats.resets == 1 and sim.stats.reset_types == [reset_type]
    wait_for(lambda: sim.stats.boots == 2, message="BootNotification after the reboot")
    wait_for(lambda: fresh("CP-RESET").last_boot_at > first_boot, message="new boot recorded")
    wait_for(lambda: fresh("CP-RESET").is_connected, message="connected after the reboot")
    assert sim.stats.connects == 2


def test_reset_type_of_the_other_version_is_an_error_and_sends_nothing(gateway, sims):
    make_charger(charge_point_id="CP-V201", is_connected=False, ocpp_version="2.0.1")
    sim = sims.start("CP-V201", ws_url(gateway), ocpp_version="2.0.1")
    wait_for(lambda: online(sim))
    result = commands.send_reset("CP-V201", "Hard", timeout=5)
    assert result.outcome == "error" and "2.0.1" in result.detail
    assert commands.send_reset("CP-V201", "Sideways", timeout=5).outcome == "error"
    # What went through the channel afterwards arrived; the wrong ones never did.
    assert commands.trigger_boot_notification("CP-V201", timeout=5).ok
    assert sim.stats.resets == 0 and sim.stats.received.get("Reset") is None


def test_payload_invalid_for_the_version_is_not_sent(gateway, sims):
    make_charger(charge_point_id="CP-INV", is_connected=False)
    sim = sims.start("CP-INV", ws_url(gateway), ocpp_version="1.6")
    wait_for(lambda: online(sim))
    result = commands.send_call("CP-INV", "Reset", {"type": "Immediate"}, timeout=5)
    assert result.outcome == "error" and "not sent" in result.detail
    unknown = commands.send_call("CP-INV", "FlyToTheMoon", {}, timeout=5)
    assert unknown.outcome == "error"
    assert commands.trigger_boot_notification("CP-INV", timeout=5).ok
    assert sim.stats.resets == 0 and "FlyToTheMoon" not in sim.stats.received


def test_rejected_reset_carries_the_status_and_the_charger_stays(gateway, sims):
    make_charger(charge_point_id="CP-REJ", is_connected=False)
    sim = sims.start("CP-REJ", ws_url(gateway), behaviour="reject")
    wait_for(lambda: online(sim))
    result = commands.send_reset("CP-REJ", "Hard", timeout=5)
    assert result.ok and result.status == "Rejected"
    assert commands.trigger_boot_notification("CP-REJ", timeout=5).ok
    assert sim.stats.connects == 1


def test_no_answer_gives_timeout(gateway, sims):
    make_charger(charge_point_id="CP-MUTE", is_connected=False)
    sim = sims.start("CP-MUTE", ws_url(gateway), behaviour="no_answer")
    wait_for(lambda: online(sim))
    result = commands.send_reset("CP-MUTE", "Soft", timeout=1)
    assert result.outcome == "timeout" and not result.ok
    assert sim.stats.resets == 1
    # The charger is still there and answers other calls.
    assert commands.trigger_boot_notification("CP-MUTE", timeout=5).ok


def test_call_error_from_the_charger_is_reported(gateway, sims):
    make_charger(charge_point_id="CP-CE", is_connected=False)
    sim = sims.start("CP-CE", ws_url(gateway))
    wait_for(lambda: online(sim))
    result = commands.send_call("CP-CE", "GetConfiguration", {}, timeout=5)
    assert result.outcome == "call_error" and result.detail.startswith("NotImplemented")


def test_trigger_boot_notification_gets_a_new_boot(gateway, sims):
    make_charger(charge_point_id="CP-TRIG", is_connected=False, ocpp_version="2.0.1")
    sim = sims.start("CP-TRIG", ws_url(gateway), ocpp_version="2.0.1")
    wait_for(lambda: online(sim))
    first = wait_for(lambda: fresh("CP-TRIG").last_boot_at)
    result = commands.trigger_boot_notification("CP-TRIG", timeout=5)
    assert result.ok and result.status == "Accepted"
    wait_for(lambda: fresh("CP-TRIG").last_boot_at > first, message="triggered boot recorded")
    assert sim.stats.connects == 1 and sim.stats.trigger_messages == 1


def test_ocpp201_charging_answers_scheduled_and_restarts_when_the_session_ends(gateway, sims):
    make_charger(charge_point_id="CP-CHG", is_connected=False, ocpp_version="2.0.1")
    sim = sims.start(
        "CP-CHG", ws_url(gateway), ocpp_version="2.0.1", behaviour="charging", session_seconds=2
    )
    wait_for(lambda: online(sim) and fresh("CP-CHG").session_active, message="session running")
    result = commands.send_reset("CP-CHG", "OnIdle", timeout=5)
    assert result.ok and result.status == "Scheduled"
    wait_for(lambda: not fresh("CP-CHG").session_active, message="session ended")
    wait_for(lambda: sim.stats.boots == 2, message="rebooted after the session")
    assert sim.stats.resets == 1


def test_ocpp16_charging_stops_the_transaction_then_reboots(gateway, sims):
    make_charger(charge_point_id="CP-CHG16", is_connected=False)
    sim = sims.start("CP-CHG16", ws_url(gateway), behaviour="charging", session_seconds=600)
    wait_for(lambda: online(sim) and fresh("CP-CHG16").session_active, message="session running")
    assert commands.send_reset("CP-CHG16", "Soft", timeout=5).status == "Accepted"
    wait_for(lambda: sim.stats.boots == 2, message="rebooted")
    assert not fresh("CP-CHG16").session_active
    assert sim.stats.received["Reset"] == 1


def test_both_directions_in_flight_at_once(gateway, runner):
    """The charger sends its own call while ours waits for an answer, then answers ours."""
    make_charger(charge_point_id="CP-BOTH", is_connected=False)

    async def charger():
        async with connect(ws_url(gateway, "CP-BOTH"), subprotocols=["ocpp1.6"]) as ws:
            reset = json.loads(await ws.recv())
            assert reset[0] == 2 and reset[2] == "Reset"
            status = [2, "st-1", "StatusNotification"]
            status.append({"connectorId": 1, "errorCode": "NoError", "status": "Available"})
            await ws.send(json.dumps(status))
            status_answer = json.loads(await ws.recv())
            await ws.send(json.dumps([3, reset[1], {"status": "Accepted"}]))
            # A duplicate answer to the same call is dropped, the socket stays open.
            await ws.send(json.dumps([3, reset[1], {"status": "Accepted"}]))
            await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
            heartbeat_answer = json.loads(await ws.recv())
            return status_answer, heartbeat_answer

    future = runner.submit(charger())
    wait_for(lambda: commands.is_connected("CP-BOTH"))
    result = commands.send_reset("CP-BOTH", "Hard", timeout=10)
    status_answer, heartbeat_answer = future.result(10)
    assert result.ok and result.status == "Accepted"
    assert status_answer == [3, "st-1", {}]
    assert heartbeat_answer[:2] == [3, "hb"]
    wait_for(lambda: fresh("CP-BOTH").last_status == "Available")


def test_a_late_answer_is_dropped_and_the_next_call_gets_its_own(gateway, runner):
    make_charger(charge_point_id="CP-LATE", is_connected=False)
    answered = asyncio.Event()

    async def charger():
        async with connect(ws_url(gateway, "CP-LATE"), subprotocols=["ocpp1.6"]) as ws:
            first = json.loads(await ws.recv())  # let this one time out
            second = json.loads(await ws.recv())
            await ws.send(json.dumps([3, first[1], {"status": "Rejected"}]))  # late
            await ws.send(json.dumps([3, second[1], {"status": "Accepted"}]))
            await answered.wait()

    future = runner.submit(charger())
    wait_for(lambda: commands.is_connected("CP-LATE"))
    assert commands.send_reset("CP-LATE", "Soft", timeout=0.5).outcome == "timeout"
    second = commands.trigger_boot_notification("CP-LATE", timeout=10)
    runner.call(answered.set)
    future.result(10)
    assert second.ok and second.status == "Accepted"


def test_a_malformed_command_in_the_queue_does_not_stop_the_gateway_serving_commands(gateway, sims):
    import redis
    from django.conf import settings

    from ocpp_gateway import registry

    make_charger(charge_point_id="CP-AFTER-JUNK", is_connected=False)
    sim = sims.start("CP-AFTER-JUNK", ws_url(gateway))
    wait_for(lambda: online(sim))
    queue = registry.requests_key(gateway.gateway_id)
    junk = [
        {"kind": "evict", "cp": ["a", "list"], "token": "x"},
        {
            "kind": "call",
            "cp": {"a": 1},
            "action": "Reset",
            "payload": {},
            "reply": "r",
            "deadline": 9e12,
            "id": "j",
        },
    ]
    redis.Redis.from_url(settings.REDIS_URL).rpush(queue, *(json.dumps(j) for j in junk))
    result = commands.send_reset("CP-AFTER-JUNK", "Soft", timeout=10)
    assert result.ok and result.status == "Accepted"


def test_a_push_that_never_reached_redis_is_not_sent_and_any_other_failure_is_an_error():
    import redis

    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError) as refused:
        dead.rpush("k", "v")
    assert commands._before_write(refused.value)
    # A lost answer after the write may have queued the call: never "not sent".
    assert not commands._before_write(redis.ConnectionError("Connection closed by server."))
    assert not commands._before_write(redis.TimeoutError("Timeout reading from socket"))


@pytest.mark.timeout(60)
def test_a_named_batch_is_either_pushed_or_taken_back_never_both(gateway, sims):
    make_charger(charge_point_id="CP-MARK", is_connected=False)
    sim = sims.start("CP-MARK", ws_url(gateway))
    wait_for(lambda: online(sim), message="simulated charger online")
    pushed, taken, foreign = commands.open_batch(), commands.open_batch(), "0" * 40 + ":x"

    (result,) = commands.send_resets([("CP-MARK", "Soft")], timeout=10, batch=pushed)
    assert result.ok and sim.stats.resets == 1
    # The sweep's look at batches whose senders died: pushed, never pushed (taken back
    # now), named under another Redis incarnation (nobody can tell: not taken back).
    assert commands.fence_batches([pushed, taken, foreign]) == {
        pushed: False,
        taken: True,
        foreign: False,
    }
    wait_for(lambda: online(sim), message="back after the reset")
    # A sender that was only slow finds its batch taken back: nothing is sent.
    (late,) = commands.send_resets([("CP-MARK", "Soft")], timeout=10, batch=taken)
    assert late.outcome == "not_sent" and late.detail.startswith("fenced")
    assert sim.stats.resets == 1
