"""A busy gateway stays alive; a late one makes commands wait, never end; a wedged one exits."""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings

from ocpp_gateway import channel, commands, registry
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url


def liveness_age(client, gateway_id) -> float | None:
    state = commands.gateway_states(client, [gateway_id])[gateway_id]
    return state.age


def test_liveness_stays_fresh_while_the_event_loop_is_blocked_for_twelve_seconds(gateway, runner):
    client = redis.Redis.from_url(settings.REDIS_URL)
    ages: list[float | None] = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            ages.append(liveness_age(client, gateway.gateway_id))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        # The loop does nothing else for 12 s: a storm that starves it, at worst.
        runner.loop.call_soon_threadsafe(time.sleep, 12)
        time.sleep(13)
    finally:
        done.set()
        sampler.join()
    assert len(ages) > 40
    assert None not in ages  # never gone
    assert max(ages) <= settings.OCPP_ALIVE_GRACE  # never even late


def test_a_loop_stalled_past_the_limit_gives_up_liveness_and_calls_the_stall_hook(
    make_gateway, runner
):
    stalled = threading.Event()
    gateway = make_gateway(loop_stall_limit=2, on_stall=stalled.set)
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.exists(registry.alive_key(gateway.gateway_id))
    runner.loop.call_soon_threadsafe(time.sleep, 5)
    assert stalled.wait(10)
    assert not client.exists(registry.alive_key(gateway.gateway_id))
    assert commands.gateway_states(client, [gateway.gateway_id])[gateway.gateway_id].status == (
        commands.GONE
    )


def test_a_command_for_a_late_gateway_is_not_sent_and_can_be_tried_again(gateway, runner, sims):
    make_charger(charge_point_id="CP-LATE", is_connected=False)
    sim = sims.start("CP-LATE", ws_url(gateway))
    wait_for(lambda: commands.is_connected("CP-LATE"), message="CP-LATE online")
    client = redis.Redis.from_url(settings.REDIS_URL)
    # The gateway's liveness thread pauses (as a frozen process's would); its key ages.
    beacon = gateway.beacon
    beacon._stop.set()
    beacon.join(5)
    value = registry.liveness_value(life=beacon.life, ttl=60)
    client.set(registry.alive_key(gateway.gateway_id), value, ex=60 - 10)  # 10 s old

    result = commands.send_reset("CP-LATE", "Hard", timeout=5)
    assert result.outcome == channel.NOT_SENT
    assert result.detail.startswith(channel.GATEWAY_LATE)
    # Late is not gone: the charger still counts as connected, and nothing was sent.
    assert commands.is_connected("CP-LATE")
    assert runner.call(lambda: sim.stats.resets) == 0

    beacon.beat()  # fresh again: the same call goes through
    assert commands.trigger_boot_notification("CP-LATE", timeout=10).ok


def test_a_gateway_that_stopped_is_gone_at_once(make_gateway):
    gateway = make_gateway()
    client = redis.Redis.from_url(settings.REDIS_URL)
    state = commands.gateway_states(client, [gateway.gateway_id])[gateway.gateway_id]
    assert state.status == commands.ALIVE and state.life == gateway.beacon.life
    make_gateway.stop(gateway)
    assert commands.gateway_states(client, [gateway.gateway_id])[gateway.gateway_id].status == (
        commands.GONE
    )
