"""Only a Reset that was written can be confirmed by a boot: the real gateway, the send
task, the database, and chargers over real sockets (a raw client, the simulator)."""

import asyncio
import json
import threading

import pytest
from django.db import connection, transaction
from django.test import override_settings
from websockets.asyncio.client import connect

from chargers.models import Charger
from ocpp_gateway import channel, commands
from restarts import tasks
from restarts.deadlines import restart_jobs_enforce
from restarts.jobs import restart_jobs_claim
from restarts.waves import restart_jobs_release
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url
from tests.restarts.test_evidence import fleet, fresh, plug_in, restart  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

BOOT = {"chargePointModel": "M", "chargePointVendor": "V"}


def booted_since(charger: Charger, moment) -> bool:
    """On a socket opened after `moment`, and booted on it."""
    row = Charger.objects.get(pk=charger.pk)
    return (
        row.is_connected
        and row.connected_at > moment
        and row.last_boot_at is not None
        and row.last_boot_at >= row.connected_at
    )


def _live(gateway, cp_id: str):
    """A charger that boots, then answers nothing more (a zombie): the open socket."""

    async def go():
        websocket = await connect(f"{ws_url(gateway)}/{cp_id}", subprotocols=["ocpp1.6"])
        await websocket.send(json.dumps([2, "boot", "BootNotification", BOOT]))
        await asyncio.wait_for(websocket.recv(), 10)
        return websocket

    return go()


async def _frames(websocket) -> list[str]:
    """The actions of the calls the gateway wrote that are still unread."""
    actions = []
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(websocket.recv(), 0.2))
        except (TimeoutError, Exception):
            return actions
        actions.append(frame[2])


@override_settings(RESTART_CALL_TIMEOUT=2)
def test_a_reset_the_gateway_never_wrote_is_skipped_and_no_later_boot_confirms_it(
    fleet,  # noqa: F811
    gateway,
    runner,
):
    charger = make_charger(fleet.site, name="Zombie", is_connected=False)
    cp_id = charger.charge_point_id
    websocket = runner.run(_live(gateway, cp_id))
    wait_for(lambda: Charger.objects.get(pk=charger.pk).last_boot_at, message="booted")

    # A probe waits for an answer that never comes; the Reset queues behind it and its
    # deadline passes before it gets its turn: the gateway never writes it.
    probe = threading.Thread(
        target=commands.send_call, args=(cp_id, "GetConfiguration", {}), kwargs={"timeout": 8}
    )
    probe.start()
    try:
        first = json.loads(runner.run(asyncio.wait_for(websocket.recv(), 10)))
        assert first[2] == "GetConfiguration"
        (job,) = restart(fleet, charger)
        states = tasks.send_resets([job.pk])
    finally:
        probe.join(30)
    assert runner.run(_frames(websocket)) == []  # no Reset reached the charger

    # The zombie reconnects and boots on a new socket (its own doing, not our Reset).
    claimed_at = fresh(job).claimed_at
    runner.run(websocket.close())
    runner.run(_live(gateway, cp_id))
    wait_for(lambda: booted_since(charger, claimed_at), message="booted on a new socket")
    restart_jobs_enforce()

    job = fresh(job)
    assert (states[job.pk], job.state, job.confirmed_by) == ("skipped", "skipped", "")
    assert job.detail == "Reset not sent: an earlier call was still waiting"
    assert job.sent_at is None and not job.answer_lost


def test_the_gateway_says_which_calls_it_never_wrote(fleet, gateway, runner):  # noqa: F811
    charger = make_charger(fleet.site, name="Ord", is_connected=False)
    cp_id = charger.charge_point_id
    websocket = runner.run(_live(gateway, cp_id))
    wait_for(lambda: Charger.objects.get(pk=charger.pk).last_boot_at, message="booted")

    invalid = commands.send_reset(cp_id, "Immediate", timeout=5)  # a 2.0.1 type on 1.6
    unanswered = commands.send_reset(cp_id, "Soft", timeout=1)
    assert (invalid.outcome, invalid.written, invalid.not_written) == ("error", False, True)
    assert (unanswered.outcome, unanswered.written) == ("timeout", True)
    assert unanswered.sent_at is not None and not unanswered.not_written
    assert runner.run(_frames(websocket)) == ["Reset"]
    runner.run(websocket.close())
    gone = commands.send_reset(cp_id, "Soft", timeout=5)
    assert gone.outcome == "not_connected" and gone.not_written

    # On the wire: readers that do not know the key ignore it; without it, nobody knows.
    wire = json.loads(channel.encode_reply("1", invalid))
    assert wire["written"] is False
    del wire["written"]
    assert channel.decode_reply(json.dumps(wire))[1].written is None


@override_settings(RESTART_RECONNECT_WAIT=120)
def test_a_job_that_waited_is_not_done_by_a_boot_before_its_reset_was_written(
    fleet,  # noqa: F811
    gateway,
    sims,
):
    charger, sim = plug_in(fleet, gateway, sims, "Flap")
    (job,) = restart(fleet, charger)
    sims.stop(sim)  # gone at its turn: it waits
    wait_for(lambda: not Charger.objects.get(pk=charger.pk).is_connected, message="gone")
    assert tasks.send_resets([job.pk]) == {}
    assert (fresh(job).state, fresh(job).detail) == ("waiting", "not_connected")
    back = sims.start(charger.charge_point_id, ws_url(gateway))
    wait_for(lambda: fresh(job).state == "queued", message="queued again when back")
    restart_jobs_release()

    # A worker claims it; before its Reset is written the charger flaps once more.
    (claimed,) = restart_jobs_claim(job_ids=[job.pk])
    sims.stop(back)
    again = sims.start(charger.charge_point_id, ws_url(gateway))
    wait_for(lambda: booted_since(charger, claimed.claimed_at), message="booted again")
    restart_jobs_enforce()  # the beat looks at the charger's row as well

    job = fresh(job)
    # That boot is no evidence: no Reset has been written yet.
    assert (job.state, job.confirmed_by, job.detail) == ("sent", "", "")
    assert job.sent_at is None and not job.answer_lost
    assert again.stats.resets == 0 and back.stats.resets == 0


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


@override_settings(RESTART_BOOT_GRACE=0)
def test_two_sweeps_at_once_ask_a_charger_for_its_boot_once(fleet, gateway, sims):  # noqa: F811
    charger, sim = plug_in(fleet, gateway, sims, "Blink", behaviour="back_without_boot")
    (job,) = restart(fleet, charger)
    assert tasks.send_resets([job.pk])[job.pk] == "accepted"
    wait_for(
        lambda: Charger.objects.get(pk=charger.pk).connected_at > fresh(job).sent_at,
        message="back on a new socket, no boot",
    )
    first_stamped, release, counts = threading.Event(), threading.Event(), {}

    def first_sweep():
        try:
            with transaction.atomic():
                counts["first"] = restart_jobs_enforce()["trigger"]
                first_stamped.set()
                release.wait(30)  # still uncommitted while the second sweep runs
        finally:
            connection.close()

    def second_sweep():
        try:
            counts["second"] = restart_jobs_enforce()["trigger"]
        finally:
            connection.close()

    first = threading.Thread(target=first_sweep)
    first.start()
    assert first_stamped.wait(30)
    second = threading.Thread(target=second_sweep)
    second.start()
    try:
        wait_for(lambda: _waiting_on_a_lock() > 0, message="the second sweep waits for the row")
    finally:
        release.set()
        first.join(30)
        second.join(30)
    assert counts == {"first": 1, "second": 0}
    assert fresh(job).trigger_sent_at is not None
