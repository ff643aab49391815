"""Evidence decides each restart job: the real gateway, the send task as a worker runs
it, the database, and simulated chargers with field habits over real sockets."""

import threading
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from ocpp.v16 import call as call16

from chargers.models import Charger
from restarts import tasks
from restarts.deadlines import restart_jobs_enforce
from restarts.models import RestartJob
from restarts.services import restart_request_create
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url
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


def test_a_201_restart_keeps_the_boot_reason(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, "Tyve", ocpp_version="2.0.1")
    (job,) = restart(fleet, charger)
    tasks.send_resets([job.pk])
    wait_for(lambda: fresh(job).state == "done", message="done")
    job = fresh(job)
    assert job.boot_reason == "RemoteReset" and job.reset_type == "Immediate"


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
