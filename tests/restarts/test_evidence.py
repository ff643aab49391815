"""Evidence decides each restart job: the real gateway, the send task as a worker runs
it, the database, and simulated chargers with field habits over real sockets."""

import threading
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from chargers.models import Charger
from restarts import tasks
from restarts.models import RestartJob
from restarts.services import restart_request_create
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url
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
