"""Restart requests the portal makes by itself (self-healing), through the normal flow.

An automatic request is an ordinary `RestartRequest` (source `auto`, no person, the
rule that fired as its `reason`) with one ordinary job: the same eligibility rule
without the person (`eligibility.evaluate_automatic`), the same waves, deadlines and
evidence, the same history, audit trail and cancel button as any other.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chargers.models import Charger
from restarts.eligibility import REASONS, evaluate_automatic
from restarts.models import RestartJob, RestartRequest
from restarts.queue import queue_available
from restarts.services import RestartRefused, RestartStarted
from restarts.waves import restart_jobs_release
from tenancy import audit


@transaction.atomic
def restart_request_create_automatic(
    *, charger_id: int, mode: str, reason: str, by: str
) -> RestartStarted:
    """Restart one charger because a rule fired; `reason` says which, `by` names the rule's
    owner as the history shows it ("Selvhelbredelse"). Raises RestartRefused (with the
    eligibility code) when the charger may not be restarted now."""
    if mode not in RestartRequest.Mode.values:
        raise RestartRefused("bad_mode", _("Unknown restart mode."))
    if not queue_available():
        raise RestartRefused("unavailable", _("The job queue is unavailable."))
    # Serialise with a person's request for the same charger, then decide.
    charger = (
        Charger.objects.select_for_update(of=("self",))
        .select_related("group")
        .filter(pk=charger_id)
        .first()
    )
    if charger is None:
        raise RestartRefused("not_found", str(REASONS["not_found"]))
    evaluation = evaluate_automatic(Charger.objects.filter(pk=charger_id))
    if not evaluation.eligible:
        code = evaluation.left_out_reasons()[0][0]
        raise RestartRefused(code, str(REASONS[code]), evaluation)
    now = timezone.now()
    restart_request = RestartRequest.objects.create(
        requested_by=None,
        requested_by_name=by[:150],
        requested_at=now,
        source=RestartRequest.Source.AUTO,
        mode=mode,
        asked_ids=[charger.pk],
        reason=reason[:300],
    )
    try:
        with transaction.atomic():
            RestartJob.objects.create(request=restart_request, charger=charger, created_at=now)
    except IntegrityError as exc:  # a person's restart won the race
        raise RestartRefused("restarting", str(REASONS["restarting"]), evaluation) from exc
    audit.record(
        action="restart.requested",
        group=charger.group,
        obj=restart_request,
        summary=f"Automatic restart of {charger.charge_point_id}, mode {mode}: {reason}"[:500],
        after={"chargers": [charger.charge_point_id], "mode": mode, "source": "auto"},
    )
    restart_jobs_release(group_ids={charger.group_id}, now=now)
    return RestartStarted(restart_request, evaluation)
