"""Finding stuck chargers: the beat's self-healing sweep (`restarts.self_healing`).

Every HEALING_INTERVAL seconds, one sweep at a time (a Redis lock):

1. chargers of groups with self-healing on that have had a connector `Faulted` for the
   policy's minutes get a case (rule `faulted`);
2. connected chargers of such groups are probed now and then (TriggerMessage for a
   Heartbeat, every HEALING_PROBE_EVERY seconds, a batch at a time); one that leaves
   the probe unanswered gets a case (rule `unresponsive`, one miss counted);
3. every open case takes its next step on the ladder (ladder.py).

A charger whose last case ended without healing it is not taken up again for the same
trouble: a fault that began before that case ended, or, for an unresponsive charger,
no answered probe since.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import timedelta
from functools import reduce
from operator import or_

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from chargers.models import Charger, ChargerEvent
from restarts.healing import ladder
from restarts.healing.models import HealingCase
from restarts.healing.notify import healing_cases_notify_unsent
from restarts.healing.policy import PolicyMap
from restarts.healing.probes import ANSWERED, probe, redis_client, with_fault
from restarts.models import RestartJob

log = logging.getLogger(__name__)

LOCK = "restarts:healing:sweep"
PROBED = "restarts:healing:probed"  # charger pk -> epoch of its last routine probe
Kind = ChargerEvent.Kind


def _in_scope(policies: PolicyMap) -> QuerySet:
    paths = policies.enabled_paths()
    if not paths:
        return Charger.objects.none()
    return Charger.objects.filter(
        reduce(or_, (Q(group__path__startswith=p) for p in paths))
    ).select_related("group")


def _last_unhealed(charger_ids) -> dict[int, HealingCase]:
    """Each charger's latest case that ended without healing it."""
    latest: dict[int, HealingCase] = {}
    cases = HealingCase.objects.filter(
        charger_id__in=list(charger_ids), outcome__in=HealingCase.NOT_HEALED
    ).order_by("charger_id", "-closed_at")
    for case in cases:
        latest.setdefault(case.charger_id, case)
    return latest


def _open(charger: Charger, policy, rule: str, now, **fields) -> HealingCase | None:
    try:
        with transaction.atomic():
            return HealingCase.objects.create(
                charger=charger,
                policy_group=policy.group,
                rule=rule,
                opened_at=now,
                model=charger.model,
                firmware_version=charger.firmware_version,
                **fields,
            )
    except IntegrityError:  # it has an open case already
        return None


def open_faulted(policies: PolicyMap, now) -> int:
    """Open a case for each charger Faulted longer than its policy allows."""
    open_case = HealingCase.objects.filter(charger=OuterRef("pk"), outcome="")
    candidates = list(
        with_fault(_in_scope(policies).filter(is_connected=True))
        .filter(fault_kind=Kind.FAULTED)
        .exclude(Exists(open_case))
    )
    given_up = _last_unhealed(c.pk for c in candidates)
    opened = 0
    for charger in candidates:
        policy = policies.for_path(charger.group.path)
        if not policy or not policy.enabled:
            continue
        if charger.fault_since > now - timedelta(minutes=policy.faulted_minutes):
            continue
        last = given_up.get(charger.pk)
        if last and last.closed_at >= charger.fault_since:
            continue  # the fault it already gave up on
        opened += _open(charger, policy, HealingCase.Rule.FAULTED, now) is not None
    return opened


def probe_routinely(policies: PolicyMap, now) -> int:
    """Probe the connected chargers that are due; a miss opens an `unresponsive` case."""
    restarting = RestartJob.objects.filter(
        charger=OuterRef("pk"), state__in=RestartJob.State.unfinished()
    )
    open_case = HealingCase.objects.filter(charger=OuterRef("pk"), outcome="")
    chargers = [
        c
        for c in _in_scope(policies)
        .filter(is_connected=True, last_boot_at__isnull=False)
        .exclude(Exists(restarting))
        .exclude(Exists(open_case))
        .order_by("pk")
        if (p := policies.for_path(c.group.path)) and p.enabled and p.unresponsive
    ]
    if not chargers:
        return 0
    client = redis_client()
    try:
        probed = client.hmget(PROBED, [c.pk for c in chargers])
    except redis.RedisError:
        log.warning("self-healing probes skipped: Redis unavailable", exc_info=True)
        return 0
    due_before = time.time() - settings.HEALING_PROBE_EVERY
    due = sorted(
        (float(at or 0), c)
        for c, at in zip(chargers, probed, strict=True)
        if float(at or 0) <= due_before
    )
    due = [c for _at, c in due[: settings.HEALING_PROBE_BATCH]]
    if not due:
        return 0
    client.hset(PROBED, mapping=dict.fromkeys([c.pk for c in due], time.time()))
    verdicts = probe(due, "Heartbeat")
    missed = [c for c in due if verdicts.get(c.pk) == "no_answer"]
    if not missed:
        return 0
    given_up = _last_unhealed(c.pk for c in missed)
    answered = dict(
        zip([c.pk for c in missed], client.hmget(ANSWERED, [c.pk for c in missed]), strict=True)
    )
    opened = 0
    for charger in missed:
        last = given_up.get(charger.pk)
        if last and float(answered[charger.pk] or 0) < last.closed_at.timestamp():
            continue  # still the charger it gave up on: no answer since
        policy = policies.for_path(charger.group.path)
        case = _open(
            charger,
            policy,
            HealingCase.Rule.UNRESPONSIVE,
            now,
            probe_misses=1,
            probed_at=now,
            attempts=[ladder.probe_attempt(now, "no_answer")],
        )
        opened += case is not None
    return opened


def healing_sweep(*, now=None) -> dict[str, int]:
    """One pass: open cases for stuck chargers, probe, move every open case on."""
    client = redis_client()
    token = str(time.time())
    try:
        if not client.set(LOCK, token, nx=True, ex=int(settings.HEALING_INTERVAL * 4) + 120):
            return {"busy": 1}
    except redis.RedisError:
        log.warning("self-healing sweep skipped: Redis unavailable")
        return {"unavailable": 1}
    try:
        now = now or timezone.now()
        policies = PolicyMap()
        done: Counter = Counter()
        done["opened_faulted"] = open_faulted(policies, now)
        done["opened_unresponsive"] = probe_routinely(policies, now)
        done.update(ladder.advance(policies, now))
        done["told_again"] = healing_cases_notify_unsent(now)
        changed = {k: v for k, v in done.items() if v}
        if changed:
            log.info("self-healing: %s", changed)
        return dict(done)
    finally:
        try:
            if client.get(LOCK) == token.encode():
                client.delete(LOCK)
        except redis.RedisError:
            pass
