"""The ladder: probe, then a Soft restart, then a Hard one, each only if the one before
did not bring the charger back healthy.

- Soft is the default mode (1.6 `Soft`, 2.0.1 `OnIdle`), Hard is "now" (1.6 `Hard`,
  2.0.1 `Immediate`); both are ordinary restart requests with source `auto`, made by
  `restarts.automatic`, so eligibility, waves, deadlines and evidence are the usual ones
  and a person can cancel them.
- Never while a session runs, never during a firmware update, never while the charger
  is away: the case waits (and says why). Outside the group's maintenance window
  (`tenancy.maintenance.outside_maintenance_window`) it acts only on a charger charging
  nobody, and a charging one waits for the window ("maintenance_window").
- Limits: at most `max_per_charger_day` automatic restarts of a charger in 24 hours and
  `max_per_group_hour` in the policy's group (its sub-groups included) in an hour.
- Healthy: connected and no connector Faulted; for an unresponsive charger, it answers
  a probe again. Judged HEALING_SETTLE seconds after a step, so the charger has time to
  report.
- A ladder that ends without a healthy charger, or a limit that stops it, tells the
  group's admins once (notify.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from chargers.models import Charger, ChargerEvent
from restarts.automatic import restart_request_create_automatic
from restarts.healing.models import HealingCase
from restarts.healing.notify import healing_case_notify
from restarts.healing.probes import probe, with_fault
from restarts.models import RestartJob, RestartRequest
from restarts.services import RestartRefused
from tenancy.maintenance import outside_maintenance_window

log = logging.getLogger(__name__)
Step = HealingCase.Step
Outcome = HealingCase.Outcome
State = RestartJob.State
NEXT = {Step.PROBE: Step.SOFT, Step.SOFT: Step.HARD}
MODE = {Step.SOFT: RestartRequest.Mode.DEFAULT, Step.HARD: RestartRequest.Mode.NOW}


def probe_attempt(at, verdict: str) -> dict:
    return {"step": Step.PROBE, "at": at.isoformat(), "state": verdict}


def _too_old(case: HealingCase, now) -> bool:
    """Open longer than HEALING_CASE_MAX_AGE and not in the middle of a restart: a charger
    that stays away, or a session or update that never ends, is a person's job."""
    if case.job_id and case.job.is_unfinished:
        return False
    return now - case.opened_at > timedelta(seconds=settings.HEALING_CASE_MAX_AGE)


def _settled(since, now) -> bool:
    return since is not None and now - since >= timedelta(seconds=settings.HEALING_SETTLE)


def _faulted(charger: Charger) -> bool:
    return charger.fault_kind == ChargerEvent.Kind.FAULTED


def _close(case: HealingCase, outcome: str, now, detail: str = "") -> None:
    case.outcome, case.closed_at, case.waiting = outcome, now, ""
    case.outcome_detail = detail[:300]
    case.save(update_fields=["outcome", "closed_at", "waiting", "outcome_detail"])
    if outcome in HealingCase.NOT_HEALED:
        transaction.on_commit(lambda: healing_case_notify(case_id=case.pk))


def _limit_reached(case: HealingCase, charger: Charger, policy, now) -> str:
    """The limit that forbids another automatic restart now, in words ("" for none)."""
    auto = RestartJob.objects.filter(request__source=RestartRequest.Source.AUTO)
    if (
        auto.filter(charger=charger, created_at__gte=now - timedelta(hours=24)).count()
        >= policy.max_per_charger_day
    ):
        return _("at most %(n)d automatic restarts per charger in 24 hours") % {
            "n": policy.max_per_charger_day
        }
    in_group = auto.filter(
        charger__group__path__startswith=policy.group.path,
        created_at__gte=now - timedelta(hours=1),
    )
    if in_group.count() >= policy.max_per_group_hour:
        return _("at most %(n)d automatic restarts in %(group)s per hour") % {
            "n": policy.max_per_group_hour,
            "group": policy.group.name,
        }
    return ""


def _reason(case: HealingCase, charger: Charger, now) -> str:
    if case.rule == HealingCase.Rule.FAULTED:
        minutes = (
            int((now - charger.fault_since).total_seconds() // 60) if charger.fault_since else 0
        )
        rule = _("Faulted for %(minutes)d min") % {"minutes": minutes}
    else:
        rule = _("did not answer %(n)d probes") % {"n": max(case.probe_misses, 2)}
    return _("Self-healing: %(rule)s; %(step)s") % {"rule": rule, "step": case.get_step_display()}


def _start_restart(case: HealingCase, charger: Charger, policy, now, done: Counter) -> None:
    """Ask for the current step's restart, unless something says wait or stop."""
    if not charger.is_connected:
        waiting = "not_connected"
    elif charger.session_active:
        # Outside its group's maintenance window self-healing acts only on a charger
        # that is charging nobody; inside it, never while a session runs either.
        waiting = (
            "maintenance_window" if outside_maintenance_window(charger.group, now) else "session"
        )
    elif charger.firmware_updating(now, stale_after=settings.HEALING_FIRMWARE_STALE):
        waiting = "firmware"
    else:
        waiting = ""
    if waiting:
        if case.waiting != waiting:
            case.waiting = waiting
            case.save(update_fields=["waiting"])
        done["waiting"] += 1
        return
    limit = _limit_reached(case, charger, policy, now)
    if limit:
        _close(case, Outcome.LIMITED, now, limit)
        done["limited"] += 1
        return
    with translation.override(settings.LANGUAGE_CODE):
        reason, by = _reason(case, charger, now), _("Self-healing")
    try:
        started = restart_request_create_automatic(
            charger_id=charger.pk, mode=MODE[case.step], reason=reason, by=by
        )
    except RestartRefused as refused:
        if refused.code == "no_remote_restart":
            _close(case, Outcome.GAVE_UP, now, refused.message)
            done["gave_up"] += 1
        elif case.waiting != refused.code:
            case.waiting = refused.code[:32]
            case.save(update_fields=["waiting"])
        return
    job = started.request.jobs.get()
    case.job, case.waiting, case.step_at = job, "", now
    case.attempts = [
        *case.attempts,
        {
            "step": case.step,
            "at": now.isoformat(),
            "request": started.request.pk,
            "job": job.pk,
            "state": job.state,
            "reset_type": "",
            "text": "",
        },
    ]
    case.save(update_fields=["job", "waiting", "step_at", "attempts"])
    done[f"restart_{case.step}"] += 1


def _climb(case: HealingCase, charger: Charger, policy, now, done: Counter, why: str) -> None:
    """The step did not help: the next one, or give up after the last."""
    nxt = NEXT.get(case.step)
    if nxt is None:
        _close(case, Outcome.GAVE_UP, now, why)
        done["gave_up"] += 1
        return
    case.step, case.job, case.step_at = nxt, None, now
    case.save(update_fields=["step", "job", "step_at"])
    _start_restart(case, charger, policy, now, done)


def _note_job(case: HealingCase, job: RestartJob) -> str:
    """Write the job's end into its attempt; return it in words."""
    text = job.get_state_display()
    if job.detail:
        text += f" ({RestartJob.DETAILS.get(job.detail, job.detail)})"
    for attempt in case.attempts:
        if attempt.get("job") == job.pk:
            attempt.update(state=job.state, reset_type=job.reset_type, text=str(text)[:300])
    case.save(update_fields=["attempts"])
    return str(text)


def _probing(case, charger, policy, now, done, to_probe) -> None:
    if case.rule == HealingCase.Rule.FAULTED and charger.is_connected and not _faulted(charger):
        _close(case, Outcome.HEALED, now)
        done["healed"] += 1
        return
    last = next((a for a in reversed(case.attempts) if a["step"] == Step.PROBE), None)
    verdict = last["state"] if last else None
    if verdict == "answered":
        if case.rule == HealingCase.Rule.UNRESPONSIVE:
            _close(case, Outcome.HEALED, now)
            done["healed"] += 1
        elif _settled(case.probed_at, now):
            _climb(case, charger, policy, now, done, "")
    elif verdict == "no_answer" and case.probe_misses >= 2:
        _climb(case, charger, policy, now, done, "")
    elif verdict == "no_answer" and not _settled(case.probed_at, now):
        return  # the second probe a while after the first: one blip is not a verdict
    elif charger.is_connected:
        to_probe.append((case, charger))


def _restarting(case, charger, policy, now, done, to_probe) -> None:
    job = case.job
    if job.is_unfinished:
        return
    text = _note_job(case, job)
    if job.state == State.CANCELLED:
        _close(case, Outcome.CANCELLED, now, text)
        done["cancelled"] += 1
    elif job.state in (State.DONE, State.UNCONFIRMED):
        if not _settled(job.finished_at, now):
            return
        if not charger.is_connected or _faulted(charger):
            _climb(case, charger, policy, now, done, text)
        elif case.rule == HealingCase.Rule.UNRESPONSIVE:
            to_probe.append((case, charger))
        else:
            _close(case, Outcome.HEALED, now)
            done["healed"] += 1
    else:
        _climb(case, charger, policy, now, done, text)


def _probed(case, charger, policy, verdict: str, now, done: Counter) -> None:
    """What a probe sent for `case` told."""
    if case.job_id:  # the health check after a restart of an unresponsive charger
        if verdict == "answered":
            _close(case, Outcome.HEALED, now)
            done["healed"] += 1
        elif verdict == "no_answer":
            _climb(case, charger, policy, now, done, _("it still does not answer"))
        return
    case.attempts = [*case.attempts, probe_attempt(now, verdict)]
    case.probed_at = now
    case.probe_misses += verdict == "no_answer"
    case.save(update_fields=["attempts", "probed_at", "probe_misses"])
    if verdict == "answered" and case.rule == HealingCase.Rule.UNRESPONSIVE:
        _close(case, Outcome.HEALED, now)
        done["healed"] += 1


def advance(policies, now) -> Counter:
    """Move every open case one step on (probes of all cases sent together)."""
    done: Counter = Counter()
    cases = list(HealingCase.objects.filter(outcome="").select_related("job").order_by("pk"))
    chargers = {
        c.pk: c
        for c in with_fault(
            Charger.objects.filter(pk__in=[c.charger_id for c in cases])
        ).select_related("group")
    }
    to_probe: list[tuple[HealingCase, Charger]] = []
    for case in cases:
        charger = chargers[case.charger_id]
        policy = policies.for_path(charger.group.path)
        with transaction.atomic():
            if policy is None or not policy.enabled:
                _close(case, Outcome.STOPPED, now)
                done["stopped"] += 1
            elif _too_old(case, now):
                why = case.waiting_text if case.waiting else str(_("it never got healthy"))
                _close(case, Outcome.GAVE_UP, now, _("waited too long: %(why)s") % {"why": why})
                done["gave_up"] += 1
            elif case.job_id:
                _restarting(case, charger, policy, now, done, to_probe)
            elif case.step == Step.PROBE:
                _probing(case, charger, policy, now, done, to_probe)
            else:
                _start_restart(case, charger, policy, now, done)
    if to_probe:
        message = {
            HealingCase.Rule.FAULTED: "StatusNotification",
            HealingCase.Rule.UNRESPONSIVE: "Heartbeat",
        }
        verdicts = {}
        for rule, word in message.items():
            verdicts.update(probe([c for case, c in to_probe if case.rule == rule], word))
        for case, charger in to_probe:
            verdict = verdicts.get(charger.pk)
            if verdict is None:
                continue
            policy = policies.for_path(charger.group.path)
            with transaction.atomic():
                _probed(case, charger, policy, verdict, timezone.now(), done)
            done["probed"] += 1
    return done
