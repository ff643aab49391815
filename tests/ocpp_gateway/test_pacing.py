"""Storms paced with OCPP's own brake: boots past the gateway's rate are answered Pending
with a short interval, accepted when they ask again, and none is lost."""

import asyncio
import json
import time

import pytest
import redis
from django.conf import settings
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargers.models import Charger
from ocpp_gateway import channel, command_loop, registry
from ocpp_gateway.channel import CallResult
from ocpp_gateway.liveness import LoopClock
from ocpp_gateway.pacing import Pacer
from ocpp_gateway.simulator import Fleet, SimulatedCharger
from tests.factories import make_charger, make_group
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url


def boot_call(version):
    if version == "1.6":
        return call16.BootNotification(charge_point_model="Pulsar", charge_point_vendor="Wallbox")
    return call201.BootNotification(
        charging_station={"model": "Pulsar", "vendor_name": "Wallbox"}, reason="PowerUp"
    )


def test_a_storm_bigger_than_the_boot_rate_finishes_with_none_lost(make_gateway, runner):
    gateway = make_gateway(boot_rate=10, pending_max_interval=5)
    group = make_group()
    ids = [make_charger(group=group, is_connected=False).charge_point_id for _ in range(60)]
    fleet = Fleet(
        [
            SimulatedCharger(cp_id, ws_url(gateway), heartbeat_seconds=60, backoff_base=0.2)
            for cp_id in ids
        ]
    )
    running = runner.submit(fleet.run())  # all at once: six times the rate
    try:
        wait_for(
            lambda: (
                Charger.objects.filter(charge_point_id__in=ids, last_boot_at__isnull=False).count()
                == len(ids)
            ),
            timeout=60,
            message="every charger of the storm booted and recorded",
        )
        stats = runner.call(
            lambda: [(c.stats.connects, c.stats.boots) for c in fleet.chargers.values()]
        )
        assert stats == [(1, 1)] * len(ids)  # on the socket it opened; no retry, none lost
        assert gateway.pacer.pending_answers > 0  # the storm was paced, not swallowed
        assert gateway.pacer.waiting == 0  # everyone asked to wait came back and was accepted
    finally:
        runner.call(fleet.stop)
        running.result(30)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_pending_charger_is_not_registered_until_it_asks_again(make_gateway, runner, version):
    gateway = make_gateway(boot_rate=1, pending_max_interval=3)
    first = make_charger(charge_point_id=f"PACE-A-{version}", is_connected=False)
    second = make_charger(charge_point_id=f"PACE-B-{version}", is_connected=False)

    async def scenario():
        cp_a, ws_a, reader_a = await open_client(ws_url(gateway), first.charge_point_id, version)
        cp_b, ws_b, reader_b = await open_client(ws_url(gateway), second.charge_point_id, version)
        accepted = await cp_a.call(boot_call(version))
        told = await cp_b.call(boot_call(version))
        return (cp_b, (ws_a, ws_b), (reader_a, reader_b)), accepted, told

    (cp_b, sockets, readers), accepted, told = runner.run(scenario())
    try:
        assert accepted.status == "Accepted"
        assert told.status == "Pending" and 1 <= told.interval <= 3
        # Not registered: its boot is not recorded and its route says no boot yet.
        runner.run(asyncio.sleep(0.5))
        assert Charger.objects.get(pk=second.pk).last_boot_at is None
        assert Charger.objects.get(pk=first.pk).last_boot_at is not None
        conn = gateway.socket(second.charge_point_id)
        assert conn is not None and not conn.boot_seen

        async def again():
            await asyncio.sleep(told.interval)
            return await cp_b.call(boot_call(version))

        assert runner.run(again()).status == "Accepted"
        wait_for(
            lambda: Charger.objects.get(pk=second.pk).last_boot_at is not None,
            timeout=10,
            message="the accepted boot recorded",
        )
    finally:

        async def close():
            for ws in sockets:
                await ws.close()
            for reader in readers:
                reader.cancel()

        runner.run(close())


def test_the_gateway_publishes_what_it_can_admit_beside_its_liveness(make_gateway):
    gateway = make_gateway(boot_rate=7)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        wait_for(
            lambda: "admit" in json.loads(client.get(registry.alive_key(gateway.gateway_id))),
            timeout=10,
            message="admission in the liveness key",
        )
        value = json.loads(client.get(registry.alive_key(gateway.gateway_id)))
        assert (value["capacity"], value["admit"], value["waiting"]) == (7, 7, 0)
    finally:
        client.close()


def test_pacing_spreads_the_waiting_and_lets_nobody_wait_twice():
    clock = [100.0]
    lag = [0.0]
    pacer = Pacer(
        rate=2,
        lag_limit=0.5,
        max_interval=30,
        lag=lambda: lag[0],
        now=lambda: clock[0],
        rand=lambda: 0.999,
    )
    assert pacer.boot("a") is None and pacer.boot("b") is None
    intervals = [pacer.boot(f"w{n}") for n in range(10)]
    assert all(1 <= i <= 30 for i in intervals)
    assert intervals[-1] > intervals[0]  # later ones are spread further out
    assert pacer.admission() == {"capacity": 2, "admit": 0, "waiting": 10}
    clock[0] += intervals[0]
    lag[0] = 5.0  # even with the loop behind: a charger that waited is accepted
    assert pacer.boot("w0") is None
    assert pacer.boot("new") is not None  # a newcomer waits while the loop is behind
    lag[0] = 0.0
    clock[0] += 40
    assert pacer.boot("w1") is None


def test_pacing_reads_how_far_behind_the_loop_is_now_not_its_last_late_tick():
    clock = LoopClock()
    pacer = Pacer(rate=1000, lag_limit=0.5, max_interval=5, lag=clock.behind)
    clock.lag, clock.tick = 2.0, time.monotonic()  # a burst made the last tick late: caught up
    assert pacer.boot("CP-1") is None
    clock.tick = time.monotonic() - 2.0  # the loop has not ticked for 2 s: behind now
    assert pacer.boot("CP-2") is not None


def test_a_storm_within_one_seconds_room_waits_one_second_the_next_second_more():
    now = [100.0]
    pacer = Pacer(rate=5, lag_limit=0.5, max_interval=30, now=lambda: now[0], rand=lambda: 0.999)
    assert [pacer.boot(f"a{n}") for n in range(5)] == [None] * 5  # the second's room
    intervals = [pacer.boot(f"w{n}") for n in range(12)]
    assert intervals[:5] == [1] * 5  # the next second has room for all of these
    assert all(2 <= i <= 3 for i in intervals[5:10]) and intervals[10:] == [4, 4]


def test_chargers_told_to_wait_that_never_come_back_do_not_hold_the_admission_at_zero():
    clock = [100.0]
    pacer = Pacer(rate=2, lag_limit=0.5, max_interval=10, now=lambda: clock[0])
    assert pacer.boot("a") is None and pacer.boot("b") is None
    assert all(pacer.boot(f"w{n}") is not None for n in range(4))
    assert pacer.admission()["admit"] == 0 and pacer.waiting == 4
    pacer.forget("w0")  # its socket closed while it waited
    clock[0] += 5
    assert pacer.admission() == {"capacity": 2, "admit": 0, "waiting": 3}
    # The others never asked again (gone, or another gateway took them): once they are
    # later than any interval could explain, the gateway admits newcomers again.
    clock[0] += 15
    assert pacer.admission() == {"capacity": 2, "admit": 2, "waiting": 0}
    assert pacer.boot("new") is None


def test_a_charger_we_made_reboot_is_let_in_past_the_rate_but_not_past_a_late_loop():
    clock = [100.0]
    lag = [0.0]
    pacer = Pacer(rate=1, lag_limit=0.5, max_interval=10, lag=lambda: lag[0], now=lambda: clock[0])
    assert pacer.boot("stranger-1") is None
    assert pacer.boot("stranger-2") is not None  # the second's room is spent
    pacer.expect("reset-1")
    pacer.expect("reset-2")
    pacer.expect("reset-3")
    pacer.forget("reset-1")  # the Reset closed its socket: it is still expected
    assert pacer.boot("reset-1") is None
    # It counted against the rate: a newcomer still waits.
    assert pacer.boot("stranger-3") is not None
    lag[0] = 2.0  # a loop this far behind asks even an expected charger to wait
    assert pacer.boot("reset-2") is not None
    lag[0] = 0.0
    clock[0] += 200  # expected long ago, never came: paced as anyone
    pacer.boot("stranger-4")
    assert pacer.boot("reset-3") is not None


@pytest.mark.parametrize(
    ("action", "payload", "result", "reboots"),
    [
        ("Reset", {"type": "Soft"}, CallResult("answered", "Accepted", sent_at=1.0), True),
        ("Reset", {"type": "OnIdle"}, CallResult("answered", "Scheduled", sent_at=1.0), True),
        # Written, the answer lost: hard resets often cut power before answering.
        ("Reset", {"type": "Hard"}, CallResult("timeout", sent_at=1.0), True),
        ("Reset", {"type": "Soft"}, CallResult("answered", "Rejected", sent_at=1.0), False),
        ("Reset", {"type": "Soft"}, CallResult("call_error", sent_at=1.0), False),
        ("Reset", {"type": "Soft"}, CallResult("not_connected"), False),
        (
            "TriggerMessage",
            {"requestedMessage": "BootNotification"},
            CallResult("answered", "Accepted", sent_at=1.0),
            True,
        ),
        (
            "TriggerMessage",
            {"requestedMessage": "Heartbeat"},
            CallResult("answered", "Accepted", sent_at=1.0),
            False,
        ),
    ],
)
def test_which_calls_make_the_gateway_expect_a_boot(action, payload, result, reboots):
    request = channel.call_request("r.0", "CP-1", action, payload, 2e9, "ocpp:reply:r")
    assert command_loop._reboots(request, result) is reboots
