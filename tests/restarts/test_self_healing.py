"""Self-healing end to end: a real gateway, simulated chargers with the faulted_after and
unresponsive_after habits, the beat's sweep, the restart tasks and Django's mail outbox.

The sweep (`restarts.self_healing`) and the restart deadlines run here as the beat would
run them; the tasks they enqueue run at once (Celery eager), as a worker would run them.
"Faulted for N minutes" is reached by moving the recorded fault back N minutes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from chargers.models import Charger, ChargerEvent
from config.celery import app as celery_app
from restarts.cancel import restart_request_cancel
from restarts.deadlines import restart_jobs_enforce
from restarts.healing.engine import healing_sweep
from restarts.healing.models import HealingCase
from restarts.healing.policy import healing_policy_set
from restarts.models import RestartJob, RestartRequest
from tenancy.models import AuditEvent, Group, Membership
from tests.factories import make_charger, make_member
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url
from tests.restarts.fleet import make_fleet

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {
    "HEALING_SETTLE": 1,
    "HEALING_PROBE_TIMEOUT": 1.0,
    "HEALING_PROBE_EVERY": 0,
    "RESTART_CALL_TIMEOUT": 5,
}


ADMINS = 2  # the fleet's admins with an e-mail address: each gets their own copy


@pytest.fixture
def fleet(transactional_db):
    fleet = make_fleet()
    fleet.super_admin.email = "super@example.com"
    fleet.super_admin.save()
    fleet.admin.email = "site@example.com"
    fleet.admin.save()
    make_member(fleet.site, Membership.Role.USER, username="viewer", email="viewer@example.com")
    return fleet


@pytest.fixture
def worker():
    """Tasks the sweep enqueues run at once in this process, as a worker would run them."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    with override_settings(**FAST):
        yield
    celery_app.conf.task_always_eager = before


def policy(fleet, **values):
    chosen = {
        "enabled": True,
        "faulted_minutes": 10,
        "unresponsive": False,
        "max_per_charger_day": 3,
        "max_per_group_hour": 10,
        **values,
    }
    healing_policy_set(actor=fleet.super_admin, group=fleet.root, values=chosen)


def plug_in(fleet, gateway, sims, behaviour, name="Heal", **options):
    charger = make_charger(fleet.site, name=name, is_connected=False, model="Pulsar Plus")
    sim = sims.start(charger.charge_point_id, ws_url(gateway), behaviour=behaviour, **options)
    wait_for(lambda: online(charger), message=f"{name} online")
    return charger, sim


def online(charger) -> bool:
    charger.refresh_from_db()
    return charger.is_connected and charger.last_boot_at is not None


def faulted_for(charger, minutes: int) -> None:
    """The charger reported Faulted; let `minutes` pass (move its recorded history back)."""
    faults = ChargerEvent.objects.filter(charger=charger, kind=ChargerEvent.Kind.FAULTED)
    wait_for(faults.exists, message="fault recorded")
    ChargerEvent.objects.filter(charger=charger).update(at=F("at") - timedelta(minutes=minutes))


def beat_until(predicate, timeout=40, message="ladder step"):
    """Run the beat's two sweeps until `predicate` holds."""

    def tick():
        restart_jobs_enforce()
        healing_sweep()
        return predicate()

    return wait_for(tick, timeout=timeout, interval=0.3, message=message)


def case_of(charger) -> HealingCase | None:
    return HealingCase.objects.filter(charger=charger).order_by("-pk").first()


def ended(charger):
    case = case_of(charger)
    return case if case and case.outcome else None


def auto_jobs(charger):
    return RestartJob.objects.filter(
        charger=charger, request__source=RestartRequest.Source.AUTO
    ).order_by("pk")


def test_a_faulted_charger_is_probed_then_soft_restarted_and_healed(
    fleet, gateway, sims, worker, client
):
    policy(fleet)
    charger, sim = plug_in(fleet, gateway, sims, "faulted_after=0.2")
    faulted_for(charger, 11)

    case = beat_until(lambda: ended(charger), message="case ended")

    assert case.outcome == "healed" and case.rule == "faulted" and case.step == "soft"
    assert [a["step"] for a in case.attempts] == ["probe", "soft"]
    job = auto_jobs(charger).get()
    assert job.state == "done" and job.reset_type == "Soft"
    assert job.request.requested_by is None and "Selvhelbredelse" in job.request.reason
    assert sim.stats.resets == 1 and sim.stats.reset_types == ["Soft"]
    assert sim.stats.received["TriggerMessage"] >= 1  # the probe went first
    assert mail.outbox == []  # healed: nobody needs telling
    assert HealingCase.objects.filter(charger=charger, outcome="").count() == 0
    # A normal restart request: in the history with its reason, and in the audit trail.
    client.force_login(fleet.admin)
    page = client.get(f"/restarts/history/{job.request.pk}/").content.decode()
    assert "Selvhelbredelse" in page and job.request.reason in page
    assert AuditEvent.objects.filter(action="restart.requested", object_id=str(job.request.pk))


def test_a_charger_that_stays_faulted_climbs_to_hard_then_gives_up_with_one_email(
    fleet, gateway, sims, worker
):
    policy(fleet)
    charger, sim = plug_in(fleet, gateway, sims, "reject+faulted_after=0.2", name="Stædig")
    faulted_for(charger, 11)

    case = beat_until(lambda: ended(charger), message="case ended")
    for _ in range(3):  # more sweeps change nothing and send nothing more
        restart_jobs_enforce()
        healing_sweep()

    assert case.outcome == "gave_up"
    assert [a["step"] for a in case.attempts] == ["probe", "soft", "hard"]
    assert [j.reset_type for j in auto_jobs(charger)] == ["Soft", "Hard"]
    assert [j.state for j in auto_jobs(charger)] == ["rejected", "rejected"]
    assert sim.stats.reset_types == ["Soft", "Hard"]
    # One e-mail, a copy of its own to each admin over the charger's group.
    assert sorted(m.to for m in mail.outbox) == [["site@example.com"], ["super@example.com"]]
    message = mail.outbox[0]
    assert "Stædig" in message.subject and charger.charge_point_id in message.body
    assert "Hard" in message.body and "Soft" in message.body
    assert f"{settings.SITE_ROOT.rstrip('/')}/chargers/{charger.pk}/" in message.body
    assert HealingCase.objects.filter(charger=charger).count() == 1  # not taken up again


def test_the_per_charger_limit_stops_the_ladder_and_tells_the_admins_once(
    fleet, gateway, sims, worker
):
    policy(fleet, max_per_charger_day=1)
    charger, sim = plug_in(fleet, gateway, sims, "reject+faulted_after=0.2", name="Grænse")
    faulted_for(charger, 11)

    case = beat_until(lambda: ended(charger), message="case ended")

    assert case.outcome == "limited" and "24" in case.outcome_detail
    assert [j.reset_type for j in auto_jobs(charger)] == ["Soft"]  # no Hard: the limit
    assert sim.stats.resets == 1
    assert len(mail.outbox) == ADMINS and all("Grænse" in m.subject for m in mail.outbox)


def test_the_group_limit_stops_the_second_charger(fleet, gateway, sims, worker):
    policy(fleet, max_per_group_hour=1)
    first, _sim1 = plug_in(fleet, gateway, sims, "reject+faulted_after=0.2", name="Først")
    second, sim2 = plug_in(fleet, gateway, sims, "reject+faulted_after=0.2", name="Anden")
    faulted_for(first, 11)
    faulted_for(second, 11)

    beat_until(lambda: ended(first) and ended(second), message="both cases ended")

    assert auto_jobs(first).count() + auto_jobs(second).count() == 1
    outcomes = sorted([ended(first).outcome, ended(second).outcome])
    assert outcomes == ["limited", "limited"]  # one at its Hard step, one before any restart
    assert len(mail.outbox) == 2 * ADMINS  # one e-mail per charger, to each admin


def test_an_unresponsive_charger_is_probed_twice_then_restarted_and_answers_again(
    fleet, gateway, sims, worker
):
    policy(fleet, unresponsive=True)
    charger, sim = plug_in(fleet, gateway, sims, "unresponsive_after=0.2", name="Zombie")
    wait_for(lambda: sim.habits.unresponsive, message="the charger stops answering")

    case = beat_until(lambda: ended(charger), timeout=60, message="case ended")

    assert case.rule == "unresponsive" and case.outcome == "healed"
    probes = [a for a in case.attempts if a["step"] == "probe"]
    assert [p["state"] for p in probes] == ["no_answer", "no_answer"]
    assert [j.state for j in auto_jobs(charger)] == ["done"]
    assert sim.stats.resets == 1 and sim.stats.unanswered >= 2
    assert mail.outbox == []


def test_a_charging_charger_is_not_restarted_while_its_session_runs(fleet, gateway, sims, worker):
    policy(fleet)
    charger, sim = plug_in(
        fleet, gateway, sims, "charging+faulted_after=0.2", name="Lader", session_seconds=600
    )
    wait_for(lambda: Charger.objects.get(pk=charger.pk).session_active, message="session")
    faulted_for(charger, 11)

    beat_until(lambda: (c := case_of(charger)) and c.waiting == "session", message="waits")

    assert auto_jobs(charger).count() == 0 and sim.stats.resets == 0


def test_a_charger_updating_its_firmware_is_left_alone(fleet, gateway, sims, worker):
    policy(fleet)
    charger, sim = plug_in(fleet, gateway, sims, "faulted_after=0.2", name="Firmware")
    Charger.objects.filter(pk=charger.pk).update(
        firmware_status="Installing", firmware_status_at=F("last_boot_at")
    )
    faulted_for(charger, 11)

    beat_until(lambda: (c := case_of(charger)) and c.waiting == "firmware", message="waits")

    assert auto_jobs(charger).count() == 0 and sim.stats.resets == 0


def test_nothing_happens_where_self_healing_is_off(fleet, gateway, sims, worker):
    policy(fleet)
    healing_policy_set(actor=fleet.super_admin, group=fleet.site, values=None)  # follows root
    healing_policy_set(
        actor=fleet.super_admin,
        group=fleet.site,
        values={
            "enabled": False,
            "faulted_minutes": 10,
            "unresponsive": True,
            "max_per_charger_day": 3,
            "max_per_group_hour": 10,
        },
    )
    charger, sim = plug_in(fleet, gateway, sims, "faulted_after=0.2")
    faulted_for(charger, 60)

    for _ in range(3):
        healing_sweep()

    assert case_of(charger) is None and sim.stats.resets == 0
    assert sim.stats.received["TriggerMessage"] == 0


def test_a_person_can_cancel_the_automatic_restart_and_the_ladder_stops(
    fleet, gateway, sims, worker, restarts_queue
):
    policy(fleet)
    charger, sim = plug_in(fleet, gateway, sims, "faulted_after=0.2", name="Annuller")
    faulted_for(charger, 11)
    celery_app.conf.task_always_eager = False  # no worker for a moment: the Reset waits
    beat_until(lambda: auto_jobs(charger).exists(), message="restart asked for")
    job = auto_jobs(charger).get()

    cancelled = restart_request_cancel(user=fleet.admin, request_id=job.request_id)
    celery_app.conf.task_always_eager = True
    case = beat_until(lambda: ended(charger), message="case ended")

    assert cancelled.cancelled and case.outcome == "cancelled"
    assert sim.stats.resets == 0 and mail.outbox == []


def window_around(group, *, starts_in: timedelta, lasts: timedelta = timedelta(hours=1)):
    """Give `group` a maintenance window starting `starts_in` from now (may be negative)."""
    local = timezone.localtime(timezone.now(), group.organisation.tzinfo)
    start = (local + starts_in).time().replace(second=0, microsecond=0)
    end = (local + starts_in + lasts).time().replace(second=0, microsecond=0)
    Group.objects.filter(pk=group.pk).update(maintenance_start=start, maintenance_end=end)


def test_outside_the_maintenance_window_a_charging_charger_waits_for_it(
    fleet, gateway, sims, worker, client
):
    policy(fleet)
    window_around(fleet.root, starts_in=timedelta(hours=2))  # the site follows the root's
    charger, sim = plug_in(
        fleet, gateway, sims, "charging+faulted_after=0.2", name="Vindue", session_seconds=600
    )
    wait_for(lambda: Charger.objects.get(pk=charger.pk).session_active, message="session")
    faulted_for(charger, 11)

    beat_until(lambda: (c := case_of(charger)) and c.waiting == "maintenance_window")
    assert auto_jobs(charger).count() == 0 and sim.stats.resets == 0
    client.force_login(fleet.admin)
    page = client.get(f"/chargers/{charger.pk}/").content.decode()
    assert "den lader og er uden for sit servicevindue" in page

    # Inside the window the charger is still never restarted while its session runs.
    window_around(fleet.root, starts_in=-timedelta(minutes=30))
    beat_until(lambda: case_of(charger).waiting == "session", message="waits for the session")
    assert auto_jobs(charger).count() == 0 and sim.stats.resets == 0


def test_outside_the_maintenance_window_a_charger_charging_nobody_is_healed(
    fleet, gateway, sims, worker
):
    policy(fleet)
    window_around(fleet.site, starts_in=timedelta(hours=2))
    charger, sim = plug_in(fleet, gateway, sims, "faulted_after=0.2", name="Ledig")
    faulted_for(charger, 11)

    case = beat_until(lambda: ended(charger), message="case ended")

    assert case.outcome == "healed" and sim.stats.resets == 1


def test_a_case_that_waits_too_long_is_given_up_with_one_email(fleet, worker):
    policy(fleet)
    charger = make_charger(fleet.site, name="Væk", is_connected=False)
    HealingCase.objects.create(
        charger=charger,
        policy_group=fleet.root,
        rule="faulted",
        step="soft",
        waiting="not_connected",
        opened_at=timezone.now() - timedelta(days=2),
    )

    healing_sweep()
    healing_sweep()

    case = ended(charger)
    assert case.outcome == "gave_up" and "ikke forbundet" in case.outcome_detail
    assert len(mail.outbox) == ADMINS and all("Væk" in m.subject for m in mail.outbox)
