"""Every OCPP status a charger can report, with its label and colour: ONE table.

OCPP 1.6 reports one `ChargePointStatus` per connector; 2.0.1 a `ConnectorStatus`
per connector and a `ChargingState` per EVSE (in TransactionEvent). Pages, filters
and the API's text fields all read their words and colours here; the raw value is
kept beside them (`data-ocpp-status` on the page, `ocpp_status` in the API).
Colours are CSS classes (`status-ok` …) drawn as a dot beside the label, never alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

V16 = "1.6"
V201 = "2.0.1"
CONNECTOR = "connector"  # 1.6 ChargePointStatus, 2.0.1 ConnectorStatus
EVSE = "evse"  # 2.0.1 ChargingState

AVAILABLE = "Available"
PREPARING = "Preparing"
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
FINISHING = "Finishing"
RESERVED = "Reserved"
UNAVAILABLE = "Unavailable"
FAULTED = "Faulted"
OCCUPIED = "Occupied"
EV_CONNECTED = "EVConnected"
IDLE = "Idle"

COLOURS = ("ok", "busy", "charging", "warn", "idle", "bad")


@dataclass(frozen=True)
class OcppStatus:
    value: str
    label: Promise | str
    colour: str
    versions: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    @property
    def css(self) -> str:
        return f"status-{self.colour}"


def _status(value, label, colour, versions, scopes) -> tuple[str, OcppStatus]:
    return value, OcppStatus(value, label, colour, versions, scopes)


OCPP_STATUSES: dict[str, OcppStatus] = dict(
    [
        _status(
            AVAILABLE,
            pgettext_lazy("OCPP status", "Available"),
            "ok",
            (V16, V201),
            (CONNECTOR,),
        ),
        _status(PREPARING, pgettext_lazy("OCPP status", "Preparing"), "busy", (V16,), (CONNECTOR,)),
        _status(
            CHARGING,
            pgettext_lazy("OCPP status", "Charging"),
            "charging",
            (V16, V201),
            (CONNECTOR, EVSE),
        ),
        _status(
            SUSPENDED_EV,
            pgettext_lazy("OCPP status", "Waiting for the car"),
            "warn",
            (V16, V201),
            (CONNECTOR, EVSE),
        ),
        _status(
            SUSPENDED_EVSE,
            pgettext_lazy("OCPP status", "Paused by the charger"),
            "warn",
            (V16, V201),
            (CONNECTOR, EVSE),
        ),
        _status(FINISHING, pgettext_lazy("OCPP status", "Finishing"), "busy", (V16,), (CONNECTOR,)),
        _status(
            RESERVED, pgettext_lazy("OCPP status", "Reserved"), "idle", (V16, V201), (CONNECTOR,)
        ),
        _status(
            UNAVAILABLE,
            pgettext_lazy("OCPP status", "Unavailable"),
            "idle",
            (V16, V201),
            (CONNECTOR,),
        ),
        _status(FAULTED, pgettext_lazy("OCPP status", "Faulted"), "bad", (V16, V201), (CONNECTOR,)),
        _status(OCCUPIED, pgettext_lazy("OCPP status", "Occupied"), "busy", (V201,), (CONNECTOR,)),
        _status(
            EV_CONNECTED, pgettext_lazy("OCPP status", "Car connected"), "busy", (V201,), (EVSE,)
        ),
        _status(IDLE, pgettext_lazy("OCPP status", "Idle"), "idle", (V201,), (EVSE,)),
    ]
)

NO_STATUS = OcppStatus("", "–", "idle")


def status_of(raw: str | None) -> OcppStatus:
    """The table's entry; a value the table lacks is shown as sent, in a neutral colour."""
    if not raw:
        return NO_STATUS
    return OCPP_STATUSES.get(raw) or OcppStatus(raw, raw, "idle")


def status_choices() -> list[tuple[str, Promise | str]]:
    """(raw value, label) for filters, in the table's order."""
    return [(s.value, s.label) for s in OCPP_STATUSES.values()]
