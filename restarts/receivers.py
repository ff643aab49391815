"""React to what the gateway recorded about a charger (chargers.signals).

Connected in RestartsConfig.ready(). The gateway sends these from its own
process, so each receiver is one or two indexed updates and nothing more; boots come
as one signal per write (`chargers_booted`): a few statements for all of them, one
query for chargers without a job.
"""

from __future__ import annotations

from django.dispatch import receiver

from chargers import signals
from restarts.jobs import (
    BOOT_CONFIRMS,
    restart_jobs_confirm_boot,
    restart_jobs_confirm_boots,
    restart_jobs_session_ended,
)
from restarts.models import RestartJob
from restarts.waiting import restart_jobs_charger_registered, restart_jobs_requeue_ready


@receiver(signals.charger_booted, dispatch_uid="restarts.charger_booted")
def charger_booted(sender, *, charger_id, at, reason="", connected_at=None, **kwargs):
    if kwargs.get("in_batch"):
        return  # the gateway's `chargers_booted` that follows carries it
    _booted(charger_id, at, reason, connected_at)


@receiver(signals.chargers_booted, dispatch_uid="restarts.chargers_booted")
def chargers_booted(sender, *, boots, **kwargs):
    """A write's boots: only chargers with a job a boot can move are looked at, all of
    them in a few statements (a storm's thousand boots mostly have none: one query)."""
    ids = {boot["charger_id"] for boot in boots}
    concerned = set(
        RestartJob.objects.filter(
            charger_id__in=ids, state__in=(*BOOT_CONFIRMS, RestartJob.State.WAITING)
        ).values_list("charger_id", flat=True)
    )
    if not concerned:
        return
    restart_jobs_confirm_boots(boots=[b for b in boots if b["charger_id"] in concerned])
    # Registered on their sockets now: jobs that waited for that go on.
    restart_jobs_requeue_ready(RestartJob.objects.filter(charger_id__in=concerned))


def _booted(charger_id, at, reason, connected_at) -> None:
    restart_jobs_confirm_boot(
        charger_id=charger_id, at=at, connected_at=connected_at, reason=reason or ""
    )
    # Registered on its socket now: a job that waited for that goes on.
    restart_jobs_charger_registered(charger_id=charger_id)


@receiver(signals.charger_session_changed, dispatch_uid="restarts.charger_session_changed")
def charger_session_changed(sender, *, charger_id, at, active, **kwargs):
    if not active:
        restart_jobs_session_ended(charger_id=charger_id, at=at)
