"""React to what the gateway recorded about a charger (chargers.signals).

Connected in RestartsConfig.ready(). The gateway sends these from its own
process, so each receiver is one or two indexed updates and nothing more.
"""

from __future__ import annotations

from django.dispatch import receiver

from chargers import signals
from restarts.jobs import restart_jobs_confirm_boot, restart_jobs_session_ended
from restarts.waiting import restart_jobs_charger_registered


@receiver(signals.charger_booted, dispatch_uid="restarts.charger_booted")
def charger_booted(sender, *, charger_id, at, reason="", connected_at=None, **kwargs):
    restart_jobs_confirm_boot(
        charger_id=charger_id, at=at, connected_at=connected_at, reason=reason or ""
    )
    # Registered on its socket now: a job that waited for that goes on.
    restart_jobs_charger_registered(charger_id=charger_id)


@receiver(signals.charger_session_changed, dispatch_uid="restarts.charger_session_changed")
def charger_session_changed(sender, *, charger_id, at, active, **kwargs):
    if not active:
        restart_jobs_session_ended(charger_id=charger_id, at=at)
