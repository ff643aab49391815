"""Our charger states and the Wallbox status codes they are shown as: ONE table.

The Wallbox API reports a charger's state as a numeric `status_id` (the `wallbox`
client's `Statuses` enum groups them: 161/162 Ready, 193-195 Charging, 14/15
Error, 0/163 Disconnected, 166 Updating, …). We derive one state per charger
from what the gateway recorded (connection, OCPP status, running session) and
whether a restart is in progress, and this table gives its code. The README's
"Wallbox status codes" table is this one; keep them in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from chargers import statuses as ocpp


@dataclass(frozen=True)
class WallboxStatus:
    code: int
    description: Promise


# our state -> the Wallbox status it is shown as
STATUS_TABLE: dict[str, WallboxStatus] = {
    "disconnected": WallboxStatus(0, _("Disconnected")),
    # A restart under way ("Genstarter"): the charger is rebooting, as during an update.
    "restarting": WallboxStatus(166, _("Updating")),
    "error": WallboxStatus(14, _("Error")),
    "unavailable": WallboxStatus(165, _("Locked")),
    "charging": WallboxStatus(194, _("Charging")),
    "waiting_for_car": WallboxStatus(181, _("Connected: waiting for car demand")),
    "paused": WallboxStatus(178, _("Paused")),
    "connected": WallboxStatus(180, _("Connected: waiting")),
    "reserved": WallboxStatus(179, _("Scheduled")),
    "ready": WallboxStatus(161, _("Ready")),
}

STATES = tuple(STATUS_TABLE)


def charger_state(charger, *, restarting: bool = False) -> str:
    """One of STATES for a charger, from what the gateway recorded about it.

    OCPP statuses of both versions: 1.6 ChargePointStatus (Available, Preparing,
    Charging, SuspendedEV, SuspendedEVSE, Finishing, Reserved, Unavailable,
    Faulted) and 2.0.1 ConnectorStatus (Available, Occupied, Reserved,
    Unavailable, Faulted).
    """
    status = charger.last_status
    if not charger.is_connected:
        return "disconnected"
    if restarting:
        return "restarting"
    if status == ocpp.FAULTED:
        return "error"
    if status == ocpp.UNAVAILABLE:
        return "unavailable"
    if status == ocpp.SUSPENDED_EV:
        return "waiting_for_car"
    if status == ocpp.SUSPENDED_EVSE:
        return "paused"
    if charger.session_active or status == ocpp.CHARGING:
        return "charging"
    if status in (ocpp.PREPARING, ocpp.FINISHING, ocpp.OCCUPIED, ocpp.EV_CONNECTED):
        return "connected"
    if status == ocpp.RESERVED:
        return "reserved"
    return "ready"


def wallbox_status(state: str) -> WallboxStatus:
    return STATUS_TABLE[state]
