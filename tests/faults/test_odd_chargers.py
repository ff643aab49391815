"""Chargers that answer a Reset oddly still end in the right state, with one Reset each.

Each odd charger is a hand-written OCPP 1.6 client over a real socket (the frames are
the point), against the gateway, worker and beat as processes. One restart request
covers all of them and a well-behaved simulated charger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from restarts import services
from restarts.models import RestartJob
from tests.faults.test_restart_faults import all_online, fleet, unfinished
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url

pytestmark = pytest.mark.soak

BOOT = {"chargePointVendor": "Odd", "chargePointModel": "Frames"}


class OddCharger:
    """Boots, waits for a Reset, then does `behaviour` with it."""

    def __init__(self, url: str, cp_id: str, behaviour: str):
        self.url, self.id, self.behaviour = url, cp_id, behaviour
        self.resets = 0
        self.boots = 0
        self.connected = False
        self.answer_now = asyncio.Event()  # set by the test: "answer late, now"

    async def _call(self, ws, action, payload):
        message_id = uuid.uuid4().hex
        await ws.send(json.dumps([2, message_id, action, payload]))
        while True:
            msg = json.loads(await ws.recv())
            if msg[0] in (3, 4) and msg[1] == message_id:
                return msg

    async def _boot(self, ws):
        answer = await self._call(ws, "BootNotification", BOOT)
        assert answer[0] == 3 and answer[2]["status"] == "Accepted"
        self.boots += 1

    async def _session(self, boot: bool):
        ws = await connect(f"{self.url}/{self.id}", subprotocols=["ocpp1.6"])
        self.connected = True
        if boot:
            await self._boot(ws)
        await self._call(
            ws,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        )
        return ws

    async def run(self):
        ws = await self._session(boot=True)
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] == 2 and msg[2] == "Reset":
                self.resets += 1
                reset_id = msg[1]
                break
        accepted = json.dumps([3, reset_id, {"status": "Accepted"}])
        if self.behaviour == "drop":
            await ws.close()  # gone before answering; comes back, no reboot
            self.connected = False
            ws = await self._session(boot=False)
        elif self.behaviour == "late":
            await self.answer_now.wait()
            await ws.send(accepted)
            ws = await self._reboot(ws)
        elif self.behaviour == "twice":
            await ws.send(accepted)
            await ws.send(accepted)
            ws = await self._reboot(ws)
        elif self.behaviour == "boot_first":
            await self._boot(ws)  # BootNotification before the CallResult
            await ws.send(accepted)
        # Stay, answering nothing else, until stopped.
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                msg = json.loads(raw)
                if msg[0] == 2 and msg[2] == "Reset":
                    self.resets += 1

    async def _reboot(self, ws):
        await ws.close()
        self.connected = False
        return await self._session(boot=True)


def test_odd_answers_to_a_reset_each_end_in_the_right_state(
    stack_factory, celery_queues, sims, runner
):
    stack = stack_factory(RESTART_CALL_TIMEOUT="3", RESTART_BOOT_GRACE="2")
    stack.start_gateway()
    stack.start_worker("w1", concurrency=4)
    stack.start_beat()
    admin, chargers = fleet(5, prefix="ODD")
    url = ws_url(stack.gateway_port)
    behaviours = ["drop", "late", "twice", "boot_first"]
    odd = {
        c.charge_point_id: OddCharger(url, c.charge_point_id, b)
        for c, b in zip(chargers, behaviours, strict=False)
    }
    futures = [runner.submit(charger.run()) for charger in odd.values()]
    normal = sims.start(chargers[4].charge_point_id, url, reboot_seconds=0.3)
    wait_for(lambda: all_online(5), 30, message="5 chargers online")

    request = services.restart_request_create(
        user=admin, charger_ids=[c.pk for c in chargers]
    ).request
    jobs = {j.charger.charge_point_id: j for j in request.jobs.select_related("charger")}

    def state(name: str) -> str:
        job = jobs[name]
        job.refresh_from_db()
        return job.state

    late = chargers[1].charge_point_id

    def detail(name: str) -> str:
        jobs[name].refresh_from_db()
        return jobs[name].detail

    # Timed out: no verdict yet, the job waits for a boot.
    wait_for(lambda: "no answer to Reset in time" in detail(late), 30, message="timed out")
    assert state(late) == "sent"
    runner.call(odd[late].answer_now.set)
    wait_for(lambda: odd[late].boots == 2, message="the late charger rebooted")
    wait_for(lambda: unfinished(request) == 0, 60, message="every job final")
    wait_for(
        lambda: "late or unknown answer dropped" in stack.output("gateway"),
        message="the gateway dropped the late answer",
    )

    expected = {
        # Back on a new socket without a boot, and none when asked: not a restart.
        chargers[0].charge_point_id: ("unconfirmed", "no_boot_when_asked"),
        # Its answer was lost, but it rebooted: the boot is the evidence.
        late: ("done", "no answer to Reset in time"),
        chargers[2].charge_point_id: ("done", ""),
        # A boot on the socket that took the Reset is no restart; it never rebooted.
        chargers[3].charge_point_id: ("not_back", "no_boot"),
        chargers[4].charge_point_id: ("done", ""),
    }
    for cp_id, (want, detail) in expected.items():
        job = jobs[cp_id]
        job.refresh_from_db()
        assert job.state == want, (cp_id, job.state, job.detail)
        assert detail in job.detail, (cp_id, job.detail)
        assert job.finished_at is not None
    assert jobs[late].confirmed_by == "boot"
    assert jobs[chargers[3].charge_point_id].confirmed_by == ""
    # One Reset each, whatever they did with it.
    assert [c.resets for c in odd.values()] == [1, 1, 1, 1] and normal.stats.resets == 1
    assert RestartJob.objects.filter(request=request, state="done").count() == 3
    for future in futures:
        future.cancel()
