"""A busy gateway stays alive; a late one makes commands wait, never end; a wedged one exits."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone
from ocpp.routing import on
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from websockets.asyncio.client import connect as websockets_connect

from chargers.models import Charger
from ocpp_gateway import channel, commands, registry
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import Client16, ws_url


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


class SlowToAnswer(Client16):
    """Answers Reset only after holding up the whole loop (the gateway's too) for 4 s."""

    @on(Action16.reset)
    def on_reset(self, type, **kwargs):  # noqa: A002 - the OCPP field name
        time.sleep(4)
        return result16.Reset(status="Accepted")


def test_a_reply_a_busy_gateway_owes_is_waited_for_past_the_deadline(gateway, runner):
    make_charger(charge_point_id="CP-SLOWGW", is_connected=False)

    async def connect():
        websocket = await websockets_connect(
            ws_url(gateway, "CP-SLOWGW"), subprotocols=["ocpp1.6"], compression=None
        )
        cp = SlowToAnswer("CP-SLOWGW", websocket, response_timeout=10)
        return cp, websocket, asyncio.ensure_future(cp.start())

    cp, websocket, reader = runner.run(connect())
    try:
        wait_for(lambda: commands.is_connected("CP-SLOWGW"))
        # The gateway takes the request at once, then its loop is held up past the
        # caller's deadline (1 s) and grace: the reply it owes still arrives, and is used.
        result = commands.send_reset("CP-SLOWGW", "Soft", timeout=1)
        assert "no reply from the gateway" not in result.detail
        assert result.outcome in (channel.ANSWERED, channel.TIMEOUT)
        assert result.sent_at is not None  # the gateway's own account of the call
    finally:
        reader.cancel()
        runner.run(websocket.close())


def test_a_charger_on_a_live_gateway_is_not_swept_silent_by_another(make_gateway, sims):
    """A busy gateway may be late writing last-seen times; another gateway's sweep for
    chargers left behind by dead gateways leaves the chargers of a running one alone."""
    holder = make_gateway()  # presence 30 s: it judges its own chargers
    make_gateway(presence_timeout=4)  # sweeps every 2 s for chargers silent 5 s
    make_charger(charge_point_id="CP-HELD", is_connected=False)
    sims.start("CP-HELD", ws_url(holder), heartbeat_seconds=60)
    wait_for(lambda: Charger.objects.get(charge_point_id="CP-HELD").last_boot_at is not None)
    # As if the holder's writes fell behind: nothing heard for an hour, on paper.
    Charger.objects.filter(charge_point_id="CP-HELD").update(
        last_seen_at=timezone.now() - timedelta(hours=1)
    )
    time.sleep(7)  # several sweeps of the other gateway
    assert Charger.objects.get(charge_point_id="CP-HELD").is_connected
