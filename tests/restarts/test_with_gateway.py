"""The restart tasks against a real gateway and simulated chargers over real sockets.

The tasks run in this process (called directly, as a worker would); the gateway
records what the chargers do and sends chargers.signals, which move the jobs on.
"""

from datetime import timedelta

import pytest
from django.test import override_settings

from chargers.models import Charger
from restarts import tasks
from restarts.deadlines import restart_jobs_enforce
from restarts.models import RestartJob
from restarts.services import restart_request_create
from restarts.waves import restart_jobs_release
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


def plug_in(fleet, gateway, sims, name="Sim", **sim_options) -> tuple[Charger, object]:
    version = sim_options.get("ocpp_version", "1.6")
    charger = make_charger(fleet.site, name=name, is_connected=False, ocpp_version=version)
    sim = sims.start(charger.charge_point_id, ws_url(gateway), **sim_options)
    wait_for(lambda: online(charger), message=f"{name} online")
    charger.refresh_from_db()
    return charger, sim


def restart(fleet, charger, mode="default") -> RestartJob:
    made = restart_request_create(user=fleet.admin, charger_ids=[charger.pk], mode=mode)
    return made.request.jobs.get()


def state(job) -> str:
    job.refresh_from_db()
    return job.state


def test_an_accepted_reset_is_done_when_the_charger_boots_again(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims)
    job = restart(fleet, charger)
    assert tasks.send_resets([job.pk]).get(job.pk) in (
        "accepted",
        None,
    )  # the boot may already have won
    wait_for(lambda: state(job) == "done", message="job done after the boot")
    assert job.reset_type == "Soft" and job.confirmed_by == "boot"
    assert job.accepted_at is None or job.sent_at <= job.accepted_at <= job.finished_at
    assert sim.stats.resets == 1 and sim.stats.boots == 2


def test_a_redelivered_task_never_resets_the_charger_twice(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims)
    job = restart(fleet, charger)
    tasks.send_resets([job.pk]).get(job.pk)
    assert tasks.send_resets([job.pk]).get(job.pk) is None  # the same message delivered again
    wait_for(lambda: state(job) == "done")
    assert sim.stats.resets == 1


def test_a_charger_that_rejects_is_marked_rejected(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, behaviour="reject")
    job = restart(fleet, charger)
    assert tasks.send_resets([job.pk]).get(job.pk) == "rejected"
    assert state(job) == "rejected" and job.finished_at is not None
    assert sim.stats.resets == 1


@override_settings(RESTART_CALL_TIMEOUT=1, RESTART_BOOT_DEADLINE=600)
def test_a_charger_that_never_answers_is_no_answer_once_the_boot_deadline_passed(
    fleet, gateway, sims
):
    charger, _sim = plug_in(fleet, gateway, sims, behaviour="no_answer")
    job = restart(fleet, charger)
    # No answer is no verdict yet: a boot could still show the restart.
    assert tasks.send_resets([job.pk]).get(job.pk) == "sent"
    job.refresh_from_db()
    assert job.detail and job.sent_at and job.answered_at is None
    restart_jobs_enforce()
    assert state(job) == "sent"
    restart_jobs_enforce(now=job.sent_at + timedelta(seconds=601))
    assert state(job) == "no_answer" and job.detail == "no answer to Reset in time"


@override_settings(RESTART_RECONNECT_WAIT=120)
def test_a_charger_marked_connected_without_a_socket_is_waited_for_then_skipped(fleet, gateway):
    charger = make_charger(fleet.site, name="Ghost", is_connected=True)
    job = restart(fleet, charger)
    assert tasks.send_resets([job.pk]).get(job.pk) == "waiting"
    assert RestartJob.objects.get(pk=job.pk).detail == "not_connected"
    restart_jobs_enforce(now=job.created_at + timedelta(seconds=180))
    assert state(job) == "skipped" and job.detail == "not_connected"


def test_restart_now_on_a_charging_16_charger_sends_hard(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, behaviour="charging", session_seconds=60)
    wait_for(lambda: Charger.objects.get(pk=charger.pk).session_active, message="charging")
    job = restart(fleet, charger, mode="now")
    tasks.send_resets([job.pk]).get(job.pk)
    wait_for(lambda: state(job) == "done")
    assert job.reset_type == "Hard"


def test_a_charging_16_charger_is_reset_only_after_its_session_ends(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, behaviour="charging", session_seconds=3)
    wait_for(lambda: Charger.objects.get(pk=charger.pk).session_active, message="charging")
    job = restart(fleet, charger)
    assert tasks.send_resets([job.pk]).get(job.pk) is None
    assert state(job) == "scheduled" and sim.stats.resets == 0
    # The session ends; the gateway's signal puts the job back in the queue.
    wait_for(lambda: state(job) == "queued", message="back in the queue when charging ended")
    restart_jobs_release()
    tasks.send_resets([job.pk]).get(job.pk)
    wait_for(lambda: state(job) == "done")
    assert job.reset_type == "Soft" and sim.stats.resets == 1


def test_a_charging_201_charger_schedules_the_reset_and_is_done_after_it(fleet, gateway, sims):
    charger, sim = plug_in(
        fleet, gateway, sims, ocpp_version="2.0.1", behaviour="charging", session_seconds=3
    )
    wait_for(lambda: Charger.objects.get(pk=charger.pk).session_active, message="charging")
    job = restart(fleet, charger)
    assert tasks.send_resets([job.pk]).get(job.pk) == "scheduled"
    assert job.__class__.objects.get(pk=job.pk).reset_type == "OnIdle"
    wait_for(lambda: state(job) == "done", message="restarted once the session ended")
    assert job.confirmed_by == "boot" and sim.stats.resets == 1


@override_settings(RESTART_BOOT_GRACE=0)
def test_a_charger_back_without_a_boot_is_asked_for_one(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims)
    job = restart(fleet, charger)
    tasks.send_resets([job.pk]).get(job.pk)
    wait_for(lambda: state(job) == "done")
    # Pretend the boot never arrived: the job waits, the charger is connected.
    RestartJob.objects.filter(pk=job.pk).update(
        state="accepted", finished_at=None, confirmed_by="", accepted_at=job.sent_at
    )
    Charger.objects.filter(pk=charger.pk).update(last_boot_at=job.sent_at.replace(year=2000))
    restart_jobs_enforce()
    assert tasks.trigger_boot(job.pk) == "answered"
    wait_for(lambda: state(job) == "done", message="done after the triggered boot")
    assert job.confirmed_by == "trigger"
    assert sim.stats.trigger_messages == 1


def test_a_requester_who_lost_the_right_meanwhile_never_resets_the_charger(fleet, gateway, sims):
    from tenancy.models import Membership

    charger, sim = plug_in(fleet, gateway, sims)
    job = restart(fleet, charger)
    Membership.objects.filter(user=fleet.admin).delete()
    assert tasks.send_resets([job.pk]) == {}
    job.refresh_from_db()
    assert (job.state, job.detail, job.sent_at) == ("cancelled", "not_allowed", None)
    assert sim.stats.resets == 0


def test_a_two_connector_charger_is_reset_only_after_its_second_session_ends(fleet, gateway, sims):
    charger, sim = plug_in(fleet, gateway, sims, behaviour="two_sessions", session_seconds=2)
    wait_for(
        lambda: set(Charger.objects.get(pk=charger.pk).sessions) == {"1", "2"},
        message="both connectors charging",
    )
    job = restart(fleet, charger)
    assert tasks.send_resets([job.pk]) == {}  # 1.6, charging: held back
    assert state(job) == "scheduled"
    # Connector 1's session ends; connector 2 still charges: the job keeps waiting.
    wait_for(
        lambda: Charger.objects.get(pk=charger.pk).sessions.keys() == {"2"},
        message="connector 1 done",
    )
    assert state(job) == "scheduled"
    restart_jobs_release()
    restart_jobs_enforce()
    assert state(job) == "scheduled" and sim.stats.resets == 0
    # The second session ends: now the Reset goes, and it reaches a charger charging no one.
    wait_for(lambda: state(job) == "queued", message="back in the queue when both ended")
    restart_jobs_release()
    tasks.send_resets([job.pk])
    wait_for(lambda: state(job) == "done")
    assert sim.stats.sessions_ended == 2 and sim.stats.resets == 1
    assert sim.stats.resets_while_charging == 0
