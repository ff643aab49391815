"""Waves: at most RESTART_WAVE_SIZE chargers of one group reset at once; the rest wait queued."""

from django.test import override_settings
from django.utils import timezone

from chargers import signals
from restarts.jobs import restart_jobs_claim
from restarts.models import RestartJob
from restarts.services import restart_request_create
from restarts.waves import restart_jobs_release
from tests.factories import make_charger, make_group

State = RestartJob.State


def released(jobs):
    return sorted(
        j.pk for j in RestartJob.objects.filter(pk__in=[j.pk for j in jobs]) if j.released_at
    )


@override_settings(RESTART_WAVE_SIZE=2)
def test_a_group_resets_in_waves_and_a_finished_charger_lets_the_next_one_go(fleet):
    chargers = [make_charger(fleet.site) for _ in range(5)]
    made = restart_request_create(user=fleet.admin, charger_ids=[c.pk for c in chargers]).request
    jobs = list(made.jobs.order_by("pk"))
    assert released(jobs) == [jobs[0].pk, jobs[1].pk]
    # Nothing frees a slot: a second dispatch releases nothing more.
    assert restart_jobs_release() == []
    (first,) = restart_jobs_claim(job_ids=[jobs[0].pk])
    written = timezone.now()
    RestartJob.objects.filter(pk=first.pk).update(
        state=State.ACCEPTED, sent_at=written, accepted_at=written
    )
    assert restart_jobs_release() == []  # accepted still counts: it is rebooting
    signals.charger_booted.send(sender=None, charger_id=first.charger_id, at=timezone.now())
    assert restart_jobs_release() == [jobs[2].pk]
    assert RestartJob.objects.filter(state=State.QUEUED, released_at__isnull=True).count() == 2


@override_settings(RESTART_WAVE_SIZE=1)
def test_each_group_has_its_own_wave(fleet):
    other = make_group(parent=fleet.root, name="Nord")
    mine = [make_charger(fleet.site), make_charger(fleet.site)]
    theirs = [make_charger(other), make_charger(other)]
    made = restart_request_create(
        user=fleet.super_admin, charger_ids=[c.pk for c in mine + theirs]
    ).request
    released_chargers = set(
        made.jobs.filter(released_at__isnull=False).values_list("charger__group", flat=True)
    )
    assert released_chargers == {fleet.site.pk, other.pk}


@override_settings(RESTART_WAVE_SIZE=1)
def test_a_charger_waiting_for_its_session_to_end_gives_its_slot_away(fleet):
    first = restart_request_create(user=fleet.admin, charger_ids=[fleet.charging.pk]).request
    second = restart_request_create(user=fleet.admin, charger_ids=[fleet.ready[0].pk]).request
    waiting, behind = first.jobs.get(), second.jobs.get()
    assert waiting.released_at and not behind.released_at
    restart_jobs_claim(job_ids=[waiting.pk])  # charging 1.6: scheduled
    assert restart_jobs_release() == [behind.pk]
