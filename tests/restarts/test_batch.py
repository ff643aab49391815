"""The batched send: one task claims a chunk of jobs, resets their chargers at once, records
the answers in bulk. Against real gateways and simulated chargers over real sockets."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connections
from django.test import override_settings
from django.utils import timezone

from chargers import signals
from chargers.models import Charger
from ocpp_gateway import commands
from restarts import tasks
from restarts.jobs import restart_jobs_claim, restart_jobs_record_answers
from restarts.models import RestartJob
from restarts.services import restart_request_create
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url
from tests.restarts.fleet import make_fleet
from tests.restarts.test_services import queued_tasks
from tests.restarts.test_with_gateway import plug_in

pytestmark = pytest.mark.django_db(transaction=True)
State = RestartJob.State


@pytest.fixture
def fleet(transactional_db):
    return make_fleet()


def restart(fleet, chargers, mode="default") -> list[RestartJob]:
    made = restart_request_create(user=fleet.admin, charger_ids=[c.pk for c in chargers], mode=mode)
    return list(made.request.jobs.order_by("pk"))


def states(jobs) -> dict[int, str]:
    return dict(RestartJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", "state"))


def test_a_chunk_resets_every_charger_once_and_a_redelivered_chunk_sends_nothing(
    fleet, gateway, sims
):
    plugged = [plug_in(fleet, gateway, sims, name=f"Sim {i}") for i in range(3)]
    jobs = restart(fleet, [c for c, _ in plugged])
    ids = [j.pk for j in jobs]

    first = tasks.send_resets(ids)
    again = tasks.send_resets(ids)  # the same message delivered twice

    assert set(first.values()) <= {State.ACCEPTED} and again == {}
    wait_for(lambda: set(states(jobs).values()) == {State.DONE}, message="all back")
    assert [sim.stats.resets for _, sim in plugged] == [1, 1, 1]


def test_twin_chunks_racing_for_the_same_jobs_claim_each_job_once(fleet):
    jobs = restart(fleet, fleet.ready)
    ids = [j.pk for j in jobs]
    start = threading.Barrier(2)
    claimed: list[list[int]] = []

    def claim():
        try:
            start.wait(5)
            claimed.append([j.pk for j in restart_jobs_claim(job_ids=ids)])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    close_old_connections()
    assert len(claimed) == 2
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)  # every job claimed, none twice
    assert set(states(jobs).values()) == {State.SENT}


@override_settings(RESTART_CALL_TIMEOUT=1)
def test_one_chunk_with_every_outcome_records_each_job_right(fleet, gateway, sims):
    accepts, accepting = plug_in(fleet, gateway, sims, name="Accepts")
    rejects, rejecting = plug_in(fleet, gateway, sims, name="Rejects", behaviour="reject")
    mute, _ = plug_in(fleet, gateway, sims, name="Mute", behaviour="no_answer")
    v201, new = plug_in(fleet, gateway, sims, name="Twenty", ocpp_version="2.0.1")
    charging, session = plug_in(
        fleet, gateway, sims, name="Charging", behaviour="charging", session_seconds=60
    )
    wait_for(lambda: Charger.objects.get(pk=charging.pk).session_active, message="charging")
    ghost = make_charger(fleet.site, name="Ghost", is_connected=True)  # no socket anywhere
    chargers = [accepts, rejects, mute, v201, charging, ghost]
    jobs = {j.charger_id: j for j in restart(fleet, chargers)}
    job = {c.name: jobs[c.pk] for c in chargers}

    recorded = tasks.send_resets([j.pk for j in jobs.values()])

    assert recorded.get(job["Accepts"].pk) in (State.ACCEPTED, None)  # the boot may win
    assert recorded[job["Rejects"].pk] == State.REJECTED
    assert recorded[job["Mute"].pk] == State.SENT  # no answer is no verdict yet
    assert recorded[job["Ghost"].pk] == State.WAITING  # for its socket, a while
    assert job["Charging"].pk not in recorded  # held back by the claim: no Reset sent
    now = states(jobs.values())
    assert now[job["Charging"].pk] == State.SCHEDULED
    by_pk = {j.pk: j for j in RestartJob.objects.filter(pk__in=now)}
    assert by_pk[job["Ghost"].pk].detail == "not_connected"
    assert by_pk[job["Mute"].pk].detail and by_pk[job["Mute"].pk].finished_at is None
    assert by_pk[job["Twenty"].pk].reset_type == "Immediate"
    assert by_pk[job["Accepts"].pk].reset_type == "Soft"
    wait_for(
        lambda: (
            states([job["Accepts"], job["Twenty"]])
            == {
                job["Accepts"].pk: State.DONE,
                job["Twenty"].pk: State.DONE,
            }
        ),
        message="the accepting chargers booted again",
    )
    assert (accepting.stats.resets, rejecting.stats.resets, new.stats.resets) == (1, 1, 1)
    assert session.stats.resets == 0


def test_an_answer_never_overwrites_a_job_that_moved_on(fleet):
    jobs = restart(fleet, fleet.ready[:2])
    claimed = restart_jobs_claim(job_ids=[j.pk for j in jobs])
    assert len(claimed) == 2
    early = claimed[0]  # the beat gave up on it before the CallResult was recorded
    RestartJob.objects.filter(pk=early.pk).update(state=State.NO_ANSWER)
    answer = commands.CallResult("answered", status="Accepted", payload={"status": "Accepted"})

    recorded = restart_jobs_record_answers(answers=[(j.pk, answer) for j in claimed])

    assert recorded == {claimed[1].pk: State.ACCEPTED}
    assert states(claimed) == {early.pk: State.NO_ANSWER, claimed[1].pk: State.ACCEPTED}


def test_an_answer_recorded_after_the_reboot_finds_the_boot(fleet):
    (job,) = restart(fleet, fleet.ready[:1])
    restart_jobs_claim(job_ids=[job.pk])
    written = timezone.now()
    # Rebooted, connected and booted again before its CallResult was recorded.
    Charger.objects.filter(pk=job.charger_id).update(
        connected_at=written + timedelta(seconds=1), last_boot_at=written + timedelta(seconds=2)
    )
    stamp = written.timestamp()
    answer = commands.CallResult(
        "answered", status="Accepted", sent_at=stamp, answered_at=stamp + 0.01
    )

    assert restart_jobs_record_answers(answers=[(job.pk, answer)]) == {job.pk: State.DONE}
    job.refresh_from_db()
    assert job.confirmed_by == "boot" and job.sent_at == written


def test_a_chunk_spanning_two_gateway_processes_reaches_each_charger_through_its_own(
    fleet, gateway_process, sims
):
    gw_a, gw_b = gateway_process("gw-a"), gateway_process("gw-b")
    on_a = make_charger(fleet.site, charge_point_id="CP-BATCH-A", is_connected=False)
    on_b = make_charger(
        fleet.site, charge_point_id="CP-BATCH-B", is_connected=False, ocpp_version="2.0.1"
    )
    sim_a = sims.start("CP-BATCH-A", ws_url(gw_a.port))
    sim_b = sims.start("CP-BATCH-B", ws_url(gw_b.port), ocpp_version="2.0.1")
    wait_for(
        lambda: all(commands.is_connected(s.id) and s.stats.boots for s in (sim_a, sim_b)),
        message="both online",
    )
    wait_for(
        lambda: Charger.objects.filter(pk__in=[on_a.pk, on_b.pk], is_connected=True).count() == 2
    )
    jobs = restart(fleet, [on_a, on_b])

    recorded = tasks.send_resets([j.pk for j in jobs])

    assert set(recorded.values()) <= {State.ACCEPTED}
    wait_for(lambda: set(states(jobs).values()) == {State.DONE}, message="both back")
    assert (sim_a.stats.resets, sim_b.stats.resets) == (1, 1)
    assert "CP-BATCH-A: Reset -> answered Accepted" in gw_a.output()
    assert "CP-BATCH-B: Reset -> answered Accepted" in gw_b.output()
    assert "CP-BATCH-A" not in gw_b.output() and "CP-BATCH-B" not in gw_a.output()


def test_many_finishing_jobs_enqueue_one_release_until_it_runs(
    fleet, restarts_queue, django_capture_on_commit_callbacks
):
    jobs = restart(fleet, fleet.ready)
    restart_jobs_claim(job_ids=[j.pk for j in jobs])
    RestartJob.objects.filter(pk__in=[j.pk for j in jobs]).update(
        state=State.ACCEPTED, sent_at=timezone.now() - timedelta(seconds=5)
    )
    restarts_queue.delete("restarts")
    releases = [("restarts.release_waiting_jobs", [])]

    with django_capture_on_commit_callbacks(execute=True):
        for job in jobs[:2]:
            signals.charger_booted.send(sender=None, charger_id=job.charger_id, at=timezone.now())
    assert queued_tasks(restarts_queue) == releases  # two finishes, one release

    tasks.release_waiting_jobs()  # it runs: the next finish needs a release of its own
    with django_capture_on_commit_callbacks(execute=True):
        signals.charger_booted.send(sender=None, charger_id=jobs[2].charger_id, at=timezone.now())
    assert queued_tasks(restarts_queue) == releases * 2
    assert set(states(jobs).values()) == {State.DONE}
