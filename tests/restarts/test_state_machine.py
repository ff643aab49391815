"""Every way a restart job moves, driven through the services and the signal receivers."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from chargers import signals
from ocpp_gateway import commands, registry
from ocpp_gateway.batches import PUSHED
from restarts.deadlines import restart_jobs_enforce
from restarts.jobs import restart_jobs_claim, restart_jobs_confirm_boots
from restarts.models import RestartJob
from restarts.services import restart_request_create

State = RestartJob.State


def start(fleet, chargers, mode="default"):
    made = restart_request_create(user=fleet.admin, charger_ids=[c.pk for c in chargers], mode=mode)
    return list(made.request.jobs.order_by("charger_id"))


def refresh(job):
    job.refresh_from_db()
    return job


def accepted(fleet, charger, at=None):
    """A job whose Reset was written to the charger and accepted at `at`."""
    at = at or timezone.now()
    (job,) = start(fleet, [charger])
    (claimed,) = restart_jobs_claim(job_ids=[job.pk], now=at)
    RestartJob.objects.filter(pk=claimed.pk).update(
        state=State.ACCEPTED, sent_at=at, answered_at=at, accepted_at=at
    )
    return refresh(job)


def booted(charger, *, connected_at, at=None, reason=""):
    """The gateway's signal: a BootNotification on a socket opened at `connected_at`."""
    signals.charger_booted.send(
        sender=None,
        charger_id=charger.pk,
        at=at or timezone.now(),
        reason=reason,
        connected_at=connected_at,
    )


def test_claim_moves_queued_to_sent_once_and_picks_the_reset_type(fleet):
    (job,) = start(fleet, fleet.ready[:1])
    (claimed,) = restart_jobs_claim(job_ids=[job.pk])
    assert claimed.state == State.SENT and claimed.reset_type == "Soft"
    # Claimed now; `sent_at` waits for the gateway's stamp of writing the frame.
    assert refresh(job).claimed_at is not None and job.sent_at is None
    # A redelivered or duplicated task finds it taken and does nothing.
    assert restart_jobs_claim(job_ids=[job.pk]) == []


@pytest.mark.parametrize(
    ("version", "charging", "mode", "reset_type"),
    [
        ("1.6", False, "default", "Soft"),
        ("1.6", False, "now", "Hard"),
        ("1.6", True, "now", "Hard"),
        ("2.0.1", False, "default", "Immediate"),
        ("2.0.1", True, "default", "OnIdle"),
        ("2.0.1", True, "now", "Immediate"),
    ],
)
def test_the_reset_type_follows_version_charging_and_mode(
    fleet, version, charging, mode, reset_type
):
    charger = fleet.ready[0]
    charger.ocpp_version, charger.session_active = version, charging
    charger.save()
    (job,) = start(fleet, [charger], mode=mode)
    assert restart_jobs_claim(job_ids=[job.pk])[0].reset_type == reset_type


@override_settings(RESTART_RECONNECT_WAIT=120)
def test_a_charger_gone_when_its_turn_comes_is_waited_for_then_skipped(fleet):
    jobs = start(fleet, fleet.ready[:2])
    fleet.ready[0].is_connected = False
    fleet.ready[0].save()
    fleet.ready[1].supports_remote_restart = False
    fleet.ready[1].save()
    assert restart_jobs_claim(job_ids=[j.pk for j in jobs]) == []
    assert [(refresh(j).state, j.detail) for j in jobs] == [
        (State.WAITING, "not_connected"),  # briefly gone, maybe: still Genstarter
        (State.SKIPPED, "no_remote_restart"),
    ]
    restart_jobs_enforce(now=timezone.now() + timedelta(seconds=60))
    assert refresh(jobs[0]).state == State.WAITING
    restart_jobs_enforce(now=timezone.now() + timedelta(seconds=121))
    assert (refresh(jobs[0]).state, jobs[0].detail) == (State.SKIPPED, "not_connected")
    assert all(refresh(j).finished_at for j in jobs)


def test_a_waiting_charger_back_and_registered_goes_back_to_the_queue(fleet):
    (job,) = start(fleet, fleet.ready[:1])
    charger = fleet.ready[0]
    charger.is_connected = False
    charger.save()
    restart_jobs_claim(job_ids=[job.pk])
    assert refresh(job).state == State.WAITING
    # Back on a new socket, but not registered on it yet: it keeps waiting.
    charger.is_connected, charger.connected_at = True, timezone.now()
    charger.save()
    restart_jobs_enforce()
    assert refresh(job).state == State.WAITING
    charger.last_boot_at = timezone.now()
    charger.save()
    booted(charger, connected_at=charger.connected_at)
    assert refresh(job).state == State.QUEUED  # its wave sends it


def test_a_charging_16_charger_waits_as_scheduled_then_goes_when_the_session_ends(fleet):
    (job,) = start(fleet, [fleet.charging])
    assert restart_jobs_claim(job_ids=[job.pk]) == []
    assert refresh(job).state == State.SCHEDULED and job.sent_at is None
    fleet.charging.session_active = False
    fleet.charging.save()
    signals.charger_session_changed.send(
        sender=None, charger_id=fleet.charging.pk, at=timezone.now(), active=False
    )
    assert refresh(job).state == State.QUEUED
    assert restart_jobs_claim(job_ids=[job.pk])[0].reset_type == "Soft"


def test_a_201_scheduled_reset_is_done_when_the_charger_boots_after_the_session(fleet):
    charger = fleet.charging
    charger.ocpp_version = "2.0.1"
    charger.save()
    (job,) = start(fleet, [charger])
    assert restart_jobs_claim(job_ids=[job.pk])[0].reset_type == "OnIdle"
    sent = timezone.now()
    RestartJob.objects.filter(pk=job.pk).update(
        state=State.SCHEDULED, sent_at=sent, scheduled_at=sent
    )
    ended = timezone.now()
    signals.charger_session_changed.send(sender=None, charger_id=charger.pk, at=ended, active=False)
    assert refresh(job).state == State.ACCEPTED and job.accepted_at == ended
    booted(charger, connected_at=timezone.now(), reason="ScheduledReset")
    assert refresh(job).state == State.DONE and job.confirmed_by == "boot"
    assert job.boot_reason == "ScheduledReset"


def test_a_boot_on_a_socket_opened_after_the_reset_completes_the_job(fleet):
    job = accepted(fleet, fleet.ready[0])
    booted(fleet.ready[0], connected_at=timezone.now(), reason="RemoteReset")
    assert refresh(job).state == State.DONE
    assert job.confirmed_by == "boot" and job.finished_at is not None
    assert job.boot_reason == "RemoteReset"


def test_a_boot_on_the_socket_that_took_the_reset_does_not_count(fleet):
    job = accepted(fleet, fleet.ready[0])
    # The charger booted after the Reset, but on the socket it had before it: no restart.
    booted(fleet.ready[0], connected_at=job.sent_at - timedelta(seconds=5))
    assert refresh(job).state == State.ACCEPTED


def test_a_boot_that_raced_the_answer_is_found_by_the_beat(fleet):
    job = accepted(fleet, fleet.ready[0])
    fleet.ready[0].connected_at = timezone.now()
    fleet.ready[0].last_boot_at = timezone.now()
    fleet.ready[0].save()
    restart_jobs_enforce()
    assert refresh(job).state == State.DONE and job.confirmed_by == "boot"


def test_a_boot_on_the_old_socket_is_no_evidence_for_the_beat_either(fleet):
    job = accepted(fleet, fleet.ready[0])
    fleet.ready[0].connected_at = job.sent_at - timedelta(seconds=30)
    fleet.ready[0].last_boot_at = timezone.now()
    fleet.ready[0].save()
    restart_jobs_enforce()
    assert refresh(job).state == State.ACCEPTED


@override_settings(RESTART_BOOT_GRACE=30)
def test_back_without_a_boot_is_asked_for_one_and_then_confirmed_by_it(
    fleet, restarts_queue, django_capture_on_commit_callbacks
):
    t0 = timezone.now() - timedelta(seconds=120)
    job = accepted(fleet, fleet.ready[0], at=t0)
    fleet.ready[0].connected_at = t0 + timedelta(seconds=20)  # reconnected after the reset
    fleet.ready[0].save()
    restarts_queue.delete("restarts")
    with django_capture_on_commit_callbacks(execute=True):
        moved = restart_jobs_enforce()
    assert moved["trigger"] == 1
    assert refresh(job).trigger_sent_at is not None
    assert restarts_queue.llen("restarts") == 1  # the TriggerMessage task
    with django_capture_on_commit_callbacks(execute=True):
        assert restart_jobs_enforce()["trigger"] == 0  # asked once only
    booted(fleet.ready[0], connected_at=fleet.ready[0].connected_at)
    assert refresh(job).state == State.DONE and job.confirmed_by == "trigger"


@override_settings(RESTART_BOOT_GRACE=30)
def test_back_and_reporting_status_but_never_booting_even_when_asked_is_unconfirmed(fleet):
    t0 = timezone.now() - timedelta(seconds=200)
    job = accepted(fleet, fleet.ready[0], at=t0)
    asked = t0 + timedelta(seconds=60)
    RestartJob.objects.filter(pk=job.pk).update(trigger_sent_at=asked, trigger_written_at=asked)
    fleet.ready[0].connected_at = t0 + timedelta(seconds=20)
    fleet.ready[0].last_status_at = t0 + timedelta(seconds=25)
    fleet.ready[0].save()
    restart_jobs_enforce()
    assert refresh(job).state == State.UNCONFIRMED and job.confirmed_by == ""
    assert job.detail == "no_boot_when_asked" and job.finished_at is not None


@override_settings(RESTART_BOOT_GRACE=30, RESTART_CALL_TIMEOUT=10)
def test_a_trigger_decided_but_never_written_is_no_verdict_and_is_asked_again(
    fleet, restarts_queue, django_capture_on_commit_callbacks
):
    """A busy queue held the TriggerMessage task past the wait: the charger was never
    asked, so "no boot when asked" would be a claim nobody can prove."""
    t0 = timezone.now() - timedelta(seconds=200)
    job = accepted(fleet, fleet.ready[0], at=t0)
    RestartJob.objects.filter(pk=job.pk).update(trigger_sent_at=t0 + timedelta(seconds=60))
    fleet.ready[0].connected_at = t0 + timedelta(seconds=20)
    fleet.ready[0].save()
    restarts_queue.delete("restarts")
    with django_capture_on_commit_callbacks(execute=True):
        moved = restart_jobs_enforce()
    assert refresh(job).state == State.ACCEPTED
    assert moved["trigger"] == 1 and job.trigger_sent_at > t0 + timedelta(seconds=60)
    assert restarts_queue.llen("restarts") == 1  # asked again


@override_settings(RESTART_BOOT_GRACE=30)
def test_asked_for_a_boot_but_not_back_on_a_new_socket_is_no_verdict_yet(fleet):
    t0 = timezone.now() - timedelta(seconds=200)
    job = accepted(fleet, fleet.ready[0], at=t0)
    RestartJob.objects.filter(pk=job.pk).update(trigger_sent_at=t0 + timedelta(seconds=60))
    fleet.ready[0].connected_at = t0 - timedelta(seconds=20)  # the socket that took the Reset
    fleet.ready[0].save()
    restart_jobs_enforce()
    assert refresh(job).state == State.ACCEPTED


@override_settings(RESTART_BOOT_DEADLINE=600)
def test_accepted_without_a_boot_within_the_deadline_did_not_come_back(fleet):
    job = accepted(fleet, fleet.ready[0], at=timezone.now() - timedelta(seconds=601))
    fresh = accepted(fleet, fleet.ready[1], at=timezone.now() - timedelta(seconds=30))
    restart_jobs_enforce()
    assert refresh(job).state == State.NOT_BACK and job.detail == "no_boot"
    assert refresh(fresh).state == State.ACCEPTED


@override_settings(RESTART_BOOT_DEADLINE=600)
def test_sent_but_never_answered_is_no_answer_only_after_the_boot_deadline(fleet):
    (job,) = start(fleet, fleet.ready[:1])
    (other,) = start(fleet, fleet.ready[1:2])
    # Its worker died after the claim: nothing recorded.
    restart_jobs_claim(job_ids=[job.pk], now=timezone.now() - timedelta(seconds=601))
    # Its answer was lost (the socket closed under the call) 5 minutes ago.
    restart_jobs_claim(job_ids=[other.pk])
    RestartJob.objects.filter(pk=other.pk).update(
        sent_at=timezone.now() - timedelta(seconds=300),
        detail="the socket closed",
        answer_lost=True,
    )
    restart_jobs_enforce()
    assert refresh(job).state == State.NO_ANSWER and job.detail == "no_result"
    assert refresh(other).state == State.SENT
    restart_jobs_enforce(now=timezone.now() + timedelta(seconds=301))
    assert refresh(other).state == State.NO_ANSWER and other.detail == "the socket closed"


@override_settings(RESTART_BOOT_DEADLINE=600)
def test_a_claim_whose_worker_died_before_pushing_is_queued_and_sent_again(fleet):
    never, pushed, elsewhere = (start(fleet, [c])[0] for c in fleet.ready[:3])
    long_ago = timezone.now() - timedelta(seconds=601)
    # Three workers died after their claims, before recording anything. One had pushed
    # its Resets (the mark says so); one died before the push; the third named its batch
    # under a Redis that has restarted since (it may have lost a mark: nobody can tell).
    batches = [commands.open_batch() for _ in range(2)]
    for job, batch in zip((never, pushed), batches, strict=True):
        restart_jobs_claim(job_ids=[job.pk], batch=batch, now=long_ago)
    commands._redis().set(registry.pushed_key(batches[1]), PUSHED)
    restart_jobs_claim(job_ids=[elsewhere.pk], batch="0" * 40 + ":" + "e" * 32, now=long_ago)

    restart_jobs_enforce()

    # Never pushed: nothing reached the charger, so it is not "no answer": queued again,
    # sent by a new claim; the dead worker's batch can no longer be pushed.
    assert refresh(never).state == State.QUEUED and never.claimed_at is None
    (again,) = restart_jobs_claim(job_ids=[never.pk], batch=commands.open_batch())
    assert again.state == State.SENT
    assert commands.fence_batches([batches[0]]) == {batches[0]: True}
    # Pushed, or not known: it may have reached the charger; no boot by the deadline.
    for job in (pushed, elsewhere):
        assert refresh(job).state == State.NO_ANSWER and job.detail == "no_result"


@override_settings(RESTART_BOOT_DEADLINE=600, REDIS_URL="redis://127.0.0.1:9/0")
def test_an_orphaned_claim_waits_while_redis_cannot_say_until_the_boot_deadline(fleet):
    recent, old = (start(fleet, [c])[0] for c in fleet.ready[:2])
    restart_jobs_claim(
        job_ids=[recent.pk], batch="r:1", now=timezone.now() - timedelta(seconds=200)
    )
    restart_jobs_claim(job_ids=[old.pk], batch="r:2", now=timezone.now() - timedelta(seconds=601))
    restart_jobs_enforce()
    assert refresh(recent).state == State.SENT and not recent.answer_lost
    assert refresh(old).state == State.NO_ANSWER


@pytest.mark.parametrize("arrays", [True, False], ids=["arrays", "case-per-charger"])
def test_a_writes_boots_confirm_each_chargers_job_by_its_own_evidence(fleet, arrays):
    t0 = timezone.now() - timedelta(seconds=30)
    jobs = [accepted(fleet, charger, at=t0) for charger in fleet.ready[:3]]
    a, b, c = (job.charger_id for job in jobs)

    def boot(charger_id, opened, at, reason=""):
        return {
            "charger_id": charger_id,
            "connected_at": t0 + timedelta(seconds=opened),
            "at": t0 + timedelta(seconds=at),
            "reason": reason,
        }

    # One write of the gateway's: A back on a new socket; B booted on the socket that
    # took the Reset (no restart); C booted on its old socket, then again on a new one.
    # (PostgreSQL's arrays, and the CASEs other databases get, as the SQLite demo.)
    moved = restart_jobs_confirm_boots(
        boots=[
            boot(c, 4, 5),
            boot(a, 2, 3, "RemoteReset"),
            boot(b, -5, 1),
            boot(c, -5, 0.5),
        ],
        arrays=arrays,
    )
    assert moved == 2

    first, second, third = (refresh(job) for job in jobs)
    assert first.state == State.DONE and first.boot_reason == "RemoteReset"
    assert first.finished_at == t0 + timedelta(seconds=3)
    assert second.state == State.ACCEPTED
    assert third.state == State.DONE and third.finished_at == t0 + timedelta(seconds=5)


def test_a_boot_before_the_answer_is_recorded_is_left_for_the_answer(fleet):
    (job,) = start(fleet, fleet.ready[:1])
    restart_jobs_claim(job_ids=[job.pk])
    # The registration boot of a socket opened before the claim: no restart.
    booted(fleet.ready[0], connected_at=timezone.now() - timedelta(seconds=5))
    assert refresh(job).state == State.SENT


@override_settings(RESTART_SCHEDULED_DEADLINE=3600)
def test_a_session_that_never_ends_gives_up_the_restart(fleet):
    (job,) = start(fleet, [fleet.charging])
    restart_jobs_claim(job_ids=[job.pk], now=timezone.now() - timedelta(seconds=3601))
    restart_jobs_enforce()
    assert refresh(job).state == State.SKIPPED and job.detail == "session_did_not_end"


def test_a_missed_session_end_is_noticed_by_the_beat(fleet):
    (job,) = start(fleet, [fleet.charging])
    restart_jobs_claim(job_ids=[job.pk])
    fleet.charging.session_active = False
    fleet.charging.save()
    restart_jobs_enforce()
    assert refresh(job).state == State.QUEUED


@override_settings(RESTART_RELEASE_STALE=300)
def test_a_released_job_whose_message_was_lost_is_sent_again(
    fleet, restarts_queue, django_capture_on_commit_callbacks
):
    (job,) = start(fleet, fleet.ready[:1])
    RestartJob.objects.filter(pk=job.pk).update(released_at=timezone.now() - timedelta(seconds=301))
    restarts_queue.delete("restarts")
    with django_capture_on_commit_callbacks(execute=True):
        assert restart_jobs_enforce()["resent"] == 1
    assert restarts_queue.llen("restarts") == 1


def test_finished_jobs_never_move_again(fleet):
    job = accepted(fleet, fleet.ready[0])
    RestartJob.objects.filter(pk=job.pk).update(state=State.NOT_BACK, finished_at=timezone.now())
    signals.charger_booted.send(sender=None, charger_id=fleet.ready[0].pk, at=timezone.now())
    restart_jobs_enforce()
    assert refresh(job).state == State.NOT_BACK
