"""What the gateway records about a charger, as signals other apps react to.

The gateway sends these after the change is written; `restarts` listens, so the
gateway never needs to know about restarts.
"""

from django.dispatch import Signal

# kwargs: charger_id, at (datetime), connection_token
charger_connected = Signal()
# kwargs: charger_id, at, connection_token
charger_disconnected = Signal()
# kwargs: charger_id, at, reason (BootNotification reason)
charger_booted = Signal()
# kwargs: charger_id, at, status (OCPP connector/charger status), connector_id
charger_status_changed = Signal()
# kwargs: charger_id, at, active (bool): a charging session started or ended
charger_session_changed = Signal()
