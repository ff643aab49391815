"""Evidence decides each restart job: the real gateway, the send task as a worker runs
it, the database, and simulated chargers with field habits over real sockets."""

import asyncio
import threading
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from ocpp.exceptions import NotSupportedError, SecurityError
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from websockets.asyncio.client import connect

from chargers.models import Charger
from ocpp_gateway import commands, registry
from restarts import tasks
from restarts.deadlines import restart_jobs_enforce
from restarts.models import RestartJob
from restarts.services import restart_request_create
from restarts.waves import restart_jobs_release
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import Client16, open_client, ws_url
from tests.restarts.fleet import make_fleet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fleet(transactional_db):
    return make_fleet()


def online(charger: Charger) -> bool:
    charger.refresh_from_db()
    return charger.is_connected and charger.last_boot_at is not None


def plug_in(fleet, gateway, sims, name, **sim_options) -> tuple[Charger, object]:
    version = sim_options.get("ocpp_version", "1.6")
    charger = make_charger(fleet.site, name=name, is_connected=False, ocpp_version=version)
    sim = sims.start(charger.charge_point_id, ws_url(gateway), **sim_options)
    wait_for(lambda: online(charger), message=f"{name} online")
    return charger, sim


def restart(fleet, *chargers, mode="default") -> list[RestartJob]:
    made = restart_request_create(
        user=fleet.super_admin, charger_ids=[c.pk for c in chargers], mode=mode
    )
    by_charger = {job.charger_id: job for job in made.request.jobs.all()}
    return [by_charger[c.pk] for c in chargers]


def fresh(job) -> RestartJob:
    return RestartJob.objects.get(pk=job.pk)


def when(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


@override_settings(RESTART_CALL_TIMEOUT=8)
def test_each_answer_is_recorded_when_it_arrives_with_the_gateways_stamps(fleet, gateway, sims):
    quick, quick_sim = plug_in(fleet, gateway, sims, "Quick", behaviour="reject")
    _mute, _mute_sim = plug_in(fleet, gateway, sims, "Mute", behaviour="no_answer")
    quick_job, mute_job = restart(fleet, quick, _mute)

    # One chunk: the worker waits up to 8 s for the mute charger's answer.
    worker = threading.Thread(target=tasks.send_resets, args=([quick_job.pk, mute_job.pk],))
    worker.start()
    try:
        wait_for(lambda: fresh(quick_job).state == "rejected", message="quick answer recorded")
        # Written while the chunk still waited for its other charger.
        assert worker.is_alive()
        assert fresh(mute_job).state == "sent"
    finally:
        worker.join(30)

    job = fresh(quick_job)
    reached = when(quick_sim.stats.reset_times[0])
    # sent_at is the gateway's stamp of writing the frame, answered_at of the answer.
    assert job.claimed_at <= job.sent_at <= reached <= job.answered_at
    assert job.finished_at == job.answered_at


@override_settings(RESTART_CALL_TIMEOUT=5)
def test_an_answer_lost_in_a_hard_reset_is_done_by_the_boot_that_follows(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, "Hard", behaviour="drop_answer")
    (job,) = restart(fleet, charger)
    tasks.send_resets([job.pk])
    wait_for(lambda: fresh(job).state == "done", message="done by the boot after the reset")
    job = fresh(job)
    assert job.confirmed_by == "boot" and job.answered_at is None
    assert job.sent_at <= when(sim.stats.reset_times[0])
    assert sim.stats.resets == 1 and sim.stats.boots == 2


def test_a_201_restart_keeps_the_boot_reason_and_the_history_shows_it(fleet, gateway, sims, client):
    charger, sim = plug_in(fleet, gateway, sims, "Tyve", ocpp_version="2.0.1")
    (job,) = restart(fleet, charger)
    tasks.send_resets([job.pk])
    wait_for(lambda: fresh(job).state == "done", message="done")
    job = fresh(job)
    assert job.boot_reason == "RemoteReset" and job.reset_type == "Immediate"

    client.force_login(fleet.super_admin)
    page = client.get(f"/restarts/history/{job.request_id}/", HTTP_ACCEPT_LANGUAGE="en")
    assert "(BootNotification: RemoteReset)" in page.content.decode()


@override_settings(RESTART_BOOT_GRACE=0)
def test_back_without_a_boot_is_asked_and_its_boot_confirms(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, "Blip", behaviour="back_without_boot")
    (job,) = restart(fleet, charger)
    assert tasks.send_resets([job.pk])[job.pk] == "accepted"
    # It reconnects on a new socket and reports status, but sends no BootNotification.
    wait_for(
        lambda: (
            sim.stats.connects == 2
            and Charger.objects.get(pk=charger.pk).connected_at > fresh(job).sent_at
        ),
        message="back on a new socket",
    )
    assert restart_jobs_enforce()["trigger"] == 1
    assert fresh(job).state == "accepted"  # back is not restarted
    assert tasks.trigger_boot(job.pk) == "answered"
    wait_for(lambda: fresh(job).state == "done", message="done by the boot it was asked for")
    assert fresh(job).confirmed_by == "trigger"
    assert sim.stats.trigger_messages == 1 and sim.stats.boots == 2


@override_settings(RESTART_BOOT_GRACE=0)
def test_back_and_never_booting_even_when_asked_ends_unconfirmed(fleet, gateway, runner, client):
    charger = make_charger(fleet.site, name="Stum", is_connected=False)
    cp_id = charger.charge_point_id

    async def first_life():
        cp, websocket, _reader = await open_client(ws_url(gateway), cp_id, "1.6")
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        return cp, websocket

    first, first_socket = runner.run(first_life())
    wait_for(lambda: Charger.objects.get(pk=charger.pk).last_boot_at, message="booted")
    (job,) = restart(fleet, charger)
    assert tasks.send_resets([job.pk])[job.pk] == "accepted"
    assert first.received == [("Reset", {"type": "Soft"})]

    async def second_life():
        await first_socket.close()
        cp, websocket, _reader = await open_client(ws_url(gateway), cp_id, "1.6")
        # It reports status and accepts a TriggerMessage, but never sends the boot.
        status = call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        await cp.call(status)
        return cp

    second = runner.run(second_life())
    wait_for(
        lambda: Charger.objects.get(pk=charger.pk).connected_at > fresh(job).sent_at,
        message="back on a new socket",
    )
    assert restart_jobs_enforce()["trigger"] == 1
    assert tasks.trigger_boot(job.pk) == "answered"
    assert second.received == [("TriggerMessage", {"requested_message": "BootNotification"})]
    restart_jobs_enforce()
    job = fresh(job)
    assert job.state == "unconfirmed" and job.detail == "no_boot_when_asked"
    assert job.confirmed_by == "" and job.state_meaning.outcome == "warning"

    client.force_login(fleet.super_admin)
    body = client.get(f"/api/v1/restarts/{job.request_id}").json()
    (shown,) = body["jobs"]
    assert (shown["state"], shown["outcome"], shown["confirmed_by"]) == (
        "unconfirmed",
        "warning",
        "",
    )


def test_an_unregistered_charger_gets_its_reset_only_after_its_boot(fleet, gateway, sims):
    charger = make_charger(fleet.site, name="Ny", is_connected=False)
    sim = sims.start(
        charger.charge_point_id, ws_url(gateway), behaviour="unregistered", boot_delay=3
    )
    wait_for(lambda: Charger.objects.get(pk=charger.pk).is_connected, message="connected")
    # The habit: before its boot it refuses a Reset (the gateway is not asked to hold it).
    refused = commands.send_reset(charger.charge_point_id, "Soft", timeout=5)
    assert refused.outcome == "call_error" and refused.detail.startswith("SecurityError")
    assert Charger.objects.get(pk=charger.pk).last_boot_at is None

    (job,) = restart(fleet, charger)
    # Not registered on its socket: nothing is sent, the job waits (still Genstarter).
    assert tasks.send_resets([job.pk]) == {job.pk: "waiting"}
    assert fresh(job).detail == "not_registered" and sim.stats.resets == 1
    assert "waiting" in RestartJob.State.restarting()

    wait_for(lambda: fresh(job).state == "queued", message="queued again once it booted")
    registered_at = Charger.objects.get(pk=charger.pk).last_boot_at
    restart_jobs_release()
    tasks.send_resets([job.pk])
    wait_for(lambda: fresh(job).state == "done", message="done after its own reset")
    job = fresh(job)
    # Its Reset reached it after its registration, and it restarted.
    assert when(sim.stats.reset_times[1]) > registered_at
    assert job.sent_at > registered_at and job.confirmed_by == "boot"
    assert sim.stats.resets == 2 and sim.stats.boots == 2


class Refusing(Client16):
    """Refuses the Reset with `error` (SecurityError, NotSupported) `refusals` times."""

    refusals = 1
    error = SecurityError

    @on(Action16.reset)
    def on_reset(self, type, **kwargs):  # noqa: A002 - the OCPP field name
        self.received.append(("Reset", {"type": type}))
        if self.refusals:
            self.refusals -= 1
            raise self.error("not in this state")
        return result16.Reset(status="Accepted")


def _connect(runner, gateway, cp_id, cls=Refusing, **attrs):
    async def go():
        websocket = await connect(f"{ws_url(gateway)}/{cp_id}", subprotocols=["ocpp1.6"])
        cp = cls(cp_id, websocket, response_timeout=10)
        for name, value in attrs.items():
            setattr(cp, name, value)
        asyncio.ensure_future(cp.start())
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        return cp, websocket

    return runner.run(go())


def _boot_again(runner, cp):
    runner.run(cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V")))


def test_a_reset_refused_because_of_its_state_goes_once_more_after_its_next_boot(
    fleet, gateway, runner
):
    charger = make_charger(fleet.site, name="Sky", is_connected=False)
    cp, websocket = _connect(runner, gateway, charger.charge_point_id)
    wait_for(lambda: Charger.objects.get(pk=charger.pk).last_boot_at, message="booted")
    (job,) = restart(fleet, charger)
    assert tasks.send_resets([job.pk]) == {job.pk: "waiting"}
    assert fresh(job).detail.startswith("retry after boot: SecurityError")

    _boot_again(runner, cp)  # its next accepted boot, on the same socket
    wait_for(lambda: fresh(job).state == "queued", message="queued again after its boot")
    restart_jobs_release()
    assert tasks.send_resets([job.pk]) == {job.pk: "accepted"}
    # A boot on this same socket is no restart; one on a new socket is.
    _boot_again(runner, cp)
    assert fresh(job).state == "accepted"
    runner.run(websocket.close())
    _connect(runner, gateway, charger.charge_point_id, refusals=0)
    wait_for(lambda: fresh(job).state == "done", message="done after booting on a new socket")
    assert [name for name, _ in cp.received] == ["Reset", "Reset"]


def test_a_charger_refusing_twice_because_of_its_state_is_rejected(fleet, gateway, runner):
    charger = make_charger(fleet.site, name="Nej", is_connected=False)
    cp, _websocket = _connect(
        runner, gateway, charger.charge_point_id, refusals=2, error=NotSupportedError
    )
    wait_for(lambda: Charger.objects.get(pk=charger.pk).last_boot_at, message="booted")
    (job,) = restart(fleet, charger)
    assert tasks.send_resets([job.pk]) == {job.pk: "waiting"}
    _boot_again(runner, cp)
    wait_for(lambda: fresh(job).state == "queued", message="queued again after its boot")
    restart_jobs_release()
    assert tasks.send_resets([job.pk]) == {job.pk: "rejected"}
    assert fresh(job).detail.startswith("NotSupported") and len(cp.received) == 2


@override_settings(RESTART_RECONNECT_WAIT=120)
def test_a_charger_briefly_gone_at_its_turn_is_waited_for_and_reset_when_back(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, "Storm")
    (job,) = restart(fleet, charger)
    sims.stop(sim)  # its socket drops just before its turn (a reconnect storm)
    wait_for(lambda: not Charger.objects.get(pk=charger.pk).is_connected, message="gone")
    assert tasks.send_resets([job.pk]) == {}  # nothing to send: it waits for its charger
    assert (fresh(job).state, fresh(job).detail) == ("waiting", "not_connected")
    assert sim.stats.resets == 0

    back = sims.start(charger.charge_point_id, ws_url(gateway))
    wait_for(lambda: fresh(job).state == "queued", message="queued again when back")
    back_at = Charger.objects.get(pk=charger.pk).connected_at
    restart_jobs_release()
    tasks.send_resets([job.pk])
    wait_for(lambda: fresh(job).state == "done", message="done once back")
    assert when(back.stats.reset_times[0]) > back_at and back.stats.resets == 1


def test_a_late_gateway_is_a_wait_and_a_retry_not_a_verdict(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, "Travl")
    (job,) = restart(fleet, charger)
    # Its gateway's liveness thread pauses (a starved or frozen process): its key ages.
    beacon = gateway.beacon
    beacon._stop.set()
    beacon.join(5)
    client = redis.Redis.from_url(settings.REDIS_URL)
    value = registry.liveness_value(life=beacon.life, ttl=60)
    client.set(registry.alive_key(gateway.gateway_id), value, ex=60 - 10)  # 10 s old

    assert tasks.send_resets([job.pk]) == {job.pk: "waiting"}  # no error, no verdict
    assert fresh(job).detail == "gateway_late" and sim.stats.resets == 0

    beacon.beat()  # fresh again: the beat's sweep sends it
    restart_jobs_enforce()
    assert fresh(job).state == "queued" and fresh(job).released_at is not None
    tasks.send_resets([job.pk])
    wait_for(lambda: fresh(job).state == "done", message="done once the gateway answered")
    assert sim.stats.resets == 1
